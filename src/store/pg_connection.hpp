// PgConnection: one libpq connection whose every step gives up at a deadline, so a server that
// stops answering costs its caller a bounded wait instead of a hang (state_store.hpp's rule).
// Not thread-safe: one thread uses a connection at a time (the store's pool hands them out).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mesh/error.hpp"

namespace mesh::detail {

using PgClock = std::chrono::steady_clock;

struct PgResultFree {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

// libpq connection keywords and their values, in order (later ones override earlier ones).
using PgParams = std::vector<std::pair<std::string, std::string>>;

class PgConnection {
 public:
  // Connects (PQconnectStartParams, a conninfo in "dbname" is expanded). Errors name the cause
  // as libpq gives it, which never includes the password.
  static Result<PgConnection> open(const PgParams& params, PgClock::time_point deadline);

  PgConnection(PgConnection&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)),
        abandoned_(std::exchange(other.abandoned_, false)) {}
  PgConnection& operator=(PgConnection&& other) noexcept;
  ~PgConnection();

  // Runs SQL text through the simple protocol (several statements allowed, text results) and
  // returns one result per statement.
  Result<std::vector<PgResult>> exec(std::string_view sql, PgClock::time_point deadline);
  // Runs a prepared statement with binary parameters; its one result is in binary format.
  Result<PgResult> run(const char* statement, std::span<const std::string_view> params,
                       PgClock::time_point deadline);

  // False once the connection broke or was given up on in the middle of a request: it must
  // be closed, not reused.
  bool usable() const {
    return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK && !abandoned_;
  }
  // Reads what the server sent while the connection sat idle (a shutdown notice, EOF) without
  // waiting; false when the connection is no longer usable.
  bool still_open();

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  Result<void> flush(PgClock::time_point deadline);
  Result<std::vector<PgResult>> collect(PgClock::time_point deadline);
  Error lost() const;
  Error gave_up();

  PGconn* conn_ = nullptr;
  bool abandoned_ = false;  // a request was cut off at its deadline: the protocol state is lost
};

// libpq's message on one line, without the trailing newline.
std::string pg_message(const char* text);

inline Error store_unavailable(std::string message) {
  return Error{Errc::store_unavailable, std::move(message)};
}

// A one-dimensional array parameter in PostgreSQL's binary format (what array_recv reads):
// a header naming the element type, then each element as a 4-byte length and its bytes.
class PgArray {
 public:
  PgArray(Oid element_type, std::size_t count);
  void add(std::string_view element);
  std::string_view bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Integers as PostgreSQL's binary format has them: big-endian, two's complement.
std::string pg_int4(std::uint32_t value);
std::string pg_int8(std::uint64_t value);
std::uint64_t pg_read_int8(const char* bytes);

// The type OIDs of the parameters mesh sends (fixed in pg_type.dat).
inline constexpr Oid kPgBytea = 17;
inline constexpr Oid kPgInt8 = 20;
inline constexpr Oid kPgInt4 = 23;
inline constexpr Oid kPgText = 25;

}  // namespace mesh::detail
