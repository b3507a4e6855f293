// StateStore's default operations: claim_many as claims one by one, and the reminder
// operations of a store that keeps no reminders (each says so).
#include "mesh/state_store.hpp"

namespace mesh {
namespace {

std::unexpected<Error> no_reminders() {
  return std::unexpected(
      Error{Errc::invalid_request, "this state store keeps no reminders (StateStore::set_reminder)"});
}

}  // namespace

Result<std::vector<std::uint64_t>> StateStore::claim_many(std::string_view capability,
                                                          std::span<const std::uint32_t> shards,
                                                          std::string_view node) {
  std::vector<std::uint64_t> fences;
  fences.reserve(shards.size());
  for (const std::uint32_t shard : shards) {
    auto fence = claim(capability, shard, node);
    if (!fence) return std::unexpected(std::move(fence.error()));
    fences.push_back(*fence);
  }
  return fences;
}

Result<void> StateStore::set_reminder(const ReminderRow&, std::uint64_t) { return no_reminders(); }

Result<bool> StateStore::remove_reminder(const StateKey&, std::string_view, std::uint64_t) {
  return no_reminders();
}

Result<std::vector<ReminderRow>> StateStore::reminders_of(const StateKey&) {
  return no_reminders();
}

Result<std::vector<ShardReminders>> StateStore::reminder_shards(std::string_view,
                                                                std::int64_t) {
  return no_reminders();
}

Result<std::optional<std::int64_t>> StateStore::next_due(std::string_view, std::uint32_t) {
  return no_reminders();
}

Result<TakenReminders> StateStore::take_due(std::string_view, std::span<const ShardFence>,
                                            std::int64_t, std::int64_t, std::size_t) {
  return no_reminders();
}

Result<void> StateStore::fired(std::string_view, std::span<const FiredReminder>,
                               std::span<const ShardFence>) {
  return no_reminders();
}

}  // namespace mesh
