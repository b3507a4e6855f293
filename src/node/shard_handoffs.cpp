#include "node/shard_handoffs.hpp"

#include <algorithm>

namespace mesh::detail {
namespace {
// An early RELEASE (one that arrived before this node's view said it gained the shard) is kept
// this long for the view change to catch up.
constexpr auto kKeepEarly = std::chrono::seconds(10);
constexpr auto kFirstAsk = std::chrono::milliseconds(50);
constexpr auto kMaxAskDelay = std::chrono::seconds(1);
}  // namespace

void ShardHandoffs::expect(const ShardKey& key, const std::string& from,
                           Clock::time_point deadline) {
  std::lock_guard lock(mutex_);
  std::vector<ArrivingActor> actors;
  if (const auto early = early_.find(key); early != early_.end() && early->second.from == from) {
    actors = std::move(early->second.actors);
    const bool released = early->second.released;
    early_.erase(early);
    if (released) {
      adopt_(key, std::move(actors));
      return;
    }
  }
  auto [it, inserted] = incoming_.try_emplace(key);
  if (inserted) waiting_count_.fetch_add(1, std::memory_order_relaxed);
  it->second.from = from;
  it->second.deadline = deadline;
  it->second.ask_delay = kFirstAsk;
  it->second.next_ask = Clock::now() + kFirstAsk;
  for (ArrivingActor& actor : actors) it->second.actors.push_back(std::move(actor));
}

bool ShardHandoffs::waiting(const ShardKey& key) const {
  if (waiting_count_.load(std::memory_order_relaxed) == 0) return false;
  std::lock_guard lock(mutex_);
  return incoming_.contains(key);
}

bool ShardHandoffs::park(const ShardKey& key, Resume resume) {
  std::lock_guard lock(mutex_);
  const auto it = incoming_.find(key);
  if (it == incoming_.end()) return false;
  it->second.parked.push_back(std::move(resume));
  return true;
}

void ShardHandoffs::wait(const ShardKey& key, Clock::time_point until) {
  std::unique_lock lock(mutex_);
  released_cv_.wait_until(lock, until, [&] { return !incoming_.contains(key); });
}

void ShardHandoffs::arrived(const ShardKey& key, const std::string& from, ArrivingActor actor) {
  std::lock_guard lock(mutex_);
  if (const auto it = incoming_.find(key); it != incoming_.end() && it->second.from == from) {
    it->second.actors.push_back(std::move(actor));
    return;
  }
  Early& early = early_[key];
  if (early.from != from) early = Early{from, Clock::now(), {}, false};
  early.actors.push_back(std::move(actor));
}

void ShardHandoffs::released(const ShardKey& key, const std::string& from, bool answer) {
  std::lock_guard lock(mutex_);
  if (const auto it = incoming_.find(key); it != incoming_.end() && it->second.from == from) {
    release_locked(it);
    return;
  }
  if (answer) return;
  Early& early = early_[key];
  if (early.from != from) early = Early{from, Clock::now(), {}, false};
  early.released = true;
}

// Adopts the arriving actors, runs the parked work in order, then lets new work in. Parked work
// only queues (never runs a handler here), so holding the lock is short and keeps the order.
void ShardHandoffs::release_locked(std::map<ShardKey, Incoming>::iterator it) {
  adopt_(it->first, std::move(it->second.actors));
  for (Resume& resume : it->second.parked) resume();
  incoming_.erase(it);
  waiting_count_.fetch_sub(1, std::memory_order_relaxed);
  released_cv_.notify_all();
}

void ShardHandoffs::forget(const std::string& node) {
  std::lock_guard lock(mutex_);
  for (auto it = incoming_.begin(); it != incoming_.end();) {
    auto next = std::next(it);
    if (it->second.from == node) release_locked(it);
    it = next;
  }
  std::erase_if(early_, [&](const auto& entry) { return entry.second.from == node; });
}

std::vector<ShardKey> ShardHandoffs::expire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  std::vector<ShardKey> timed_out;
  for (auto it = incoming_.begin(); it != incoming_.end();) {
    auto next = std::next(it);
    if (it->second.deadline <= now) {
      timed_out.push_back(it->first);
      release_locked(it);
    }
    it = next;
  }
  std::erase_if(early_, [&](const auto& entry) { return now - entry.second.at > kKeepEarly; });
  return timed_out;
}

ShardHandoffs::Asks ShardHandoffs::due_asks(Clock::time_point now,
                                            const std::function<double()>& jitter) {
  std::lock_guard lock(mutex_);
  Asks asks;
  for (auto& [key, incoming] : incoming_) {
    if (incoming.next_ask > now) continue;
    asks[{incoming.from, key.first}].push_back(key.second);
    incoming.ask_delay = std::min<Clock::duration>(incoming.ask_delay * 2, kMaxAskDelay);
    incoming.next_ask =
        now + std::chrono::duration_cast<Clock::duration>(incoming.ask_delay * jitter());
  }
  return asks;
}

bool ShardHandoffs::outgoing(const ShardKey& key) const {
  std::lock_guard lock(mutex_);
  return outgoing_.contains(key);
}

void ShardHandoffs::outgoing_changed(const ShardKey& key, int delta) {
  std::lock_guard lock(mutex_);
  if ((outgoing_[key] += delta) == 0) outgoing_.erase(key);
}

std::size_t ShardHandoffs::outgoing_count() const {
  std::lock_guard lock(mutex_);
  return outgoing_.size();
}

std::size_t ShardHandoffs::in_progress() const {
  std::lock_guard lock(mutex_);
  return incoming_.size() + outgoing_.size();
}

}  // namespace mesh::detail
