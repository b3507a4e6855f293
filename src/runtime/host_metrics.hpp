// HostMetrics: what the host counts per actor type and capability (calls, casts, activations,
// deactivations, handler time), each thread in its own memory.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "mesh/actor.hpp"
#include "mesh/error.hpp"

namespace mesh::detail {

struct ActorType;

// Outcome index: 0 = ok, otherwise the Errc's value (1..12).
inline constexpr std::size_t kOutcomeCount = 13;
inline constexpr std::size_t outcome_index(const Error* error) {
  return error ? static_cast<std::size_t>(error->code) : 0;
}
// Deactivation index: the DeactivateReason's value, or kCrashed for an activation that ended
// without one (its handler or constructor threw, or a store failure discarded it).
inline constexpr std::size_t kReasonCount = 6;
inline constexpr std::size_t kCrashed = 5;

// Upper bounds of the handler-time histogram's buckets, in nanoseconds: 1 µs to 10 s, three per
// decade (1, 2.5, 5). A last bucket (+Inf) follows.
inline constexpr std::array<std::uint64_t, 22> kDurationBoundsNs = {
    1'000,         2'500,         5'000,         10'000,        25'000,        50'000,
    100'000,       250'000,       500'000,       1'000'000,     2'500'000,     5'000'000,
    10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000,   500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
inline constexpr std::size_t kDurationBuckets = kDurationBoundsNs.size() + 1;

// The counts of one (actor type, capability), summed over threads. Plain values.
struct TypeTotals {
  std::array<std::uint64_t, kOutcomeCount> calls{};
  std::array<std::uint64_t, kOutcomeCount> casts{};
  std::uint64_t started = 0;
  std::array<std::uint64_t, kReasonCount> ended{};
  std::array<std::uint64_t, kDurationBuckets> duration{};  // not cumulative
  std::uint64_t duration_sum_ns = 0;
  void add(const TypeTotals& other);
};

// The counting side. Each thread keeps its own cells for every (type, capability) it touched:
// a count is a load and a store to memory no other thread writes (no shared atomic, no lock);
// a thread's last (type, capability) is cached, so a run of calls to one module costs a compare
// before the increments. Readers sum every thread's cells (and those of threads that ended).
// All functions are thread-safe.
namespace host_metrics {

void call(const ActorType& type, std::uint32_t capability, const Error* error) noexcept;
void cast(const ActorType& type, std::uint32_t capability, const Error* error) noexcept;
void started(const ActorType& type, std::uint32_t capability) noexcept;
void ended(const ActorType& type, std::uint32_t capability,
           std::optional<DeactivateReason> reason) noexcept;
void handler_time(const ActorType& type, std::uint32_t capability, std::uint64_t ns) noexcept;

// A process-wide id for a type, never reused (nodes come and go within one process).
std::uint64_t new_type_id() noexcept;

struct Key {
  std::uint64_t type_id;
  std::uint32_t capability;
  friend auto operator<=>(const Key&, const Key&) = default;
};
// The totals of every (type, capability) whose type_id is in `types`.
std::map<Key, TypeTotals> totals(const std::set<std::uint64_t>& types);

}  // namespace host_metrics

}  // namespace mesh::detail
