#include "store/pg_connection.hpp"

#include <poll.h>

#include <cerrno>

namespace mesh::detail {
namespace {

// Waits until the socket is ready for `events`; false when the deadline passed first. A poll
// error or a closed socket counts as ready: libpq's next call then reports the real cause.
bool wait_socket(int socket, short events, PgClock::time_point deadline) {
  if (socket < 0) return true;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - PgClock::now());
    if (left.count() <= 0) return false;
    pollfd ready{socket, events, 0};
    const int n = ::poll(&ready, 1, static_cast<int>(left.count()));
    if (n > 0 || (n < 0 && errno != EINTR)) return true;
  }
}

void ignore_notice(void*, const char*) {}

void put_int4(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

}  // namespace

std::string pg_message(const char* text) {
  std::string message;
  for (const char* c = text ? text : ""; *c != '\0'; ++c) {
    if (*c != '\n' && *c != '\t') {
      message.push_back(*c);
    } else if (!message.empty() && message.back() != ' ') {
      message.push_back(' ');
    }
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  return message;
}

Result<PgConnection> PgConnection::open(const PgParams& params, PgClock::time_point deadline) {
  std::vector<const char*> keywords, values;
  for (const auto& [keyword, value] : params) {
    keywords.push_back(keyword.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PgConnection connection(PQconnectStartParams(keywords.data(), values.data(), 1));
  if (connection.conn_ == nullptr)
    return std::unexpected(store_unavailable("libpq is out of memory"));
  // libpq's own connect_timeout applies only to blocking connects; this loop keeps the deadline.
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (PQstatus(connection.conn_) != CONNECTION_BAD && status != PGRES_POLLING_OK &&
         status != PGRES_POLLING_FAILED) {
    const short events = status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!wait_socket(PQsocket(connection.conn_), events, deadline)) {
      return std::unexpected(store_unavailable("no answer from the server in time"));
    }
    status = PQconnectPoll(connection.conn_);
  }
  if (status != PGRES_POLLING_OK) {
    return std::unexpected(store_unavailable(pg_message(PQerrorMessage(connection.conn_))));
  }
  // Non-blocking sends let a full socket buffer wait on the deadline too.
  PQsetnonblocking(connection.conn_, 1);
  PQsetNoticeProcessor(connection.conn_, ignore_notice, nullptr);
  return connection;
}

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    abandoned_ = std::exchange(other.abandoned_, false);
  }
  return *this;
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Result<std::vector<PgResult>> PgConnection::exec(std::string_view sql,
                                                 PgClock::time_point deadline) {
  const std::string text(sql);
  if (!usable() || PQsendQuery(conn_, text.c_str()) == 0) return std::unexpected(lost());
  if (auto sent = flush(deadline); !sent) return std::unexpected(sent.error());
  return collect(deadline);
}

Result<PgResult> PgConnection::run(const char* statement, std::span<const std::string_view> params,
                                   PgClock::time_point deadline) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  for (std::string_view param : params) {
    values.push_back(param.data());
    lengths.push_back(static_cast<int>(param.size()));
  }
  const std::vector<int> binary(params.size(), 1);
  if (!usable() || PQsendQueryPrepared(conn_, statement, static_cast<int>(params.size()),
                                       values.data(), lengths.data(), binary.data(), 1) == 0) {
    return std::unexpected(lost());
  }
  if (auto sent = flush(deadline); !sent) return std::unexpected(sent.error());
  auto results = collect(deadline);
  if (!results) return std::unexpected(results.error());
  if (results->size() != 1)
    return std::unexpected(store_unavailable("postgres sent no single result"));
  return std::move(results->front());
}

bool PgConnection::still_open() {
  return usable() && PQconsumeInput(conn_) != 0 && PQstatus(conn_) == CONNECTION_OK;
}

Result<void> PgConnection::flush(PgClock::time_point deadline) {
  for (;;) {
    const int pending = PQflush(conn_);
    if (pending == 0) return {};
    if (pending < 0) return std::unexpected(lost());
    // The server may be blocked on sending us something: read while waiting to write.
    if (!wait_socket(PQsocket(conn_), POLLIN | POLLOUT, deadline)) {
      return std::unexpected(gave_up());
    }
    if (PQconsumeInput(conn_) == 0) return std::unexpected(lost());
  }
}

Result<std::vector<PgResult>> PgConnection::collect(PgClock::time_point deadline) {
  std::vector<PgResult> results;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (!wait_socket(PQsocket(conn_), POLLIN, deadline)) return std::unexpected(gave_up());
      if (PQconsumeInput(conn_) == 0) return std::unexpected(lost());
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    results.emplace_back(result);
  }
  if (PQstatus(conn_) != CONNECTION_OK) return std::unexpected(lost());
  for (const PgResult& result : results) {
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return std::unexpected(
          store_unavailable("postgres error: " + pg_message(PQresultErrorMessage(result.get()))));
    }
  }
  return results;
}

Error PgConnection::lost() const {
  return store_unavailable("postgres connection lost: " +
                           pg_message(conn_ ? PQerrorMessage(conn_) : "closed"));
}

Error PgConnection::gave_up() {
  abandoned_ = true;
  return store_unavailable("postgres did not answer in time");
}

PgArray::PgArray(Oid element_type, std::size_t count) {
  put_int4(bytes_, 1);  // dimensions
  put_int4(bytes_, 0);  // no nulls
  put_int4(bytes_, element_type);
  put_int4(bytes_, static_cast<std::uint32_t>(count));
  put_int4(bytes_, 1);  // lower bound
}

void PgArray::add(std::string_view element) {
  put_int4(bytes_, static_cast<std::uint32_t>(element.size()));
  bytes_.append(element);
}

std::string pg_int4(std::uint32_t value) {
  std::string bytes;
  put_int4(bytes, value);
  return bytes;
}

std::string pg_int8(std::uint64_t value) {
  std::string bytes = pg_int4(static_cast<std::uint32_t>(value >> 32));
  put_int4(bytes, static_cast<std::uint32_t>(value));
  return bytes;
}

std::uint64_t pg_read_int8(const char* bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace mesh::detail
