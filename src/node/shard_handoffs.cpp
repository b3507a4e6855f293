#include "node/shard_handoffs.hpp"

#include <algorithm>
#include <utility>

namespace mesh::detail {
namespace {
// An early RELEASE (one that arrived before this node's view said it gained the shard) is kept
// this long for the view change to catch up.
constexpr auto kKeepEarly = std::chrono::seconds(10);
constexpr auto kFirstAsk = std::chrono::milliseconds(50);
constexpr auto kMaxAskDelay = std::chrono::seconds(1);

// The release the calling thread is finishing: the parked work it resumes routes again and must
// pass the shard that still holds back everyone else's new work, or it would park behind itself.
struct Finishing {
  const ShardHandoffs* handoffs = nullptr;
  ShardRef key{};
};
thread_local Finishing finishing_here;
}  // namespace

void ShardHandoffs::arm_locked(Incoming& incoming, const std::string& from,
                               Clock::time_point deadline) {
  incoming.from = from;
  incoming.deadline = deadline;
  incoming.ask_delay = kFirstAsk;
  incoming.next_ask = Clock::now() + kFirstAsk;
}

void ShardHandoffs::expect(const ShardRef& key, const std::string& from,
                           Clock::time_point deadline) {
  std::vector<ShardRef> ready;
  {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = incoming_.try_emplace(key);
    if (inserted) {
      waiting_count_.fetch_add(1, std::memory_order_relaxed);
    } else if (it->second.releasing) {
      it->second.expected_next.emplace(from, deadline);
      return;
    }
    arm_locked(it->second, from, deadline);
    if (const auto early = early_.find(key); early != early_.end() && early->second.from == from) {
      for (ArrivingActor& actor : early->second.actors) it->second.actors.push_back(std::move(actor));
      const bool released = early->second.released;
      early_.erase(early);
      if (released && start_release_locked(it)) ready.push_back(key);
    }
  }
  post_all(ready);
}

bool ShardHandoffs::waiting(const ShardRef& key) const {
  if (waiting_count_.load(std::memory_order_relaxed) == 0) return false;
  if (finishing_here.handoffs == this && finishing_here.key == key) return false;
  std::lock_guard lock(mutex_);
  return incoming_.contains(key);
}

bool ShardHandoffs::park(const ShardRef& key, Resume resume) {
  if (finishing_here.handoffs == this && finishing_here.key == key) return false;
  std::lock_guard lock(mutex_);
  const auto it = incoming_.find(key);
  if (it == incoming_.end()) return false;
  it->second.parked.push_back(std::move(resume));
  return true;
}

void ShardHandoffs::wait(const ShardRef& key, Clock::time_point until) {
  std::unique_lock lock(mutex_);
  released_cv_.wait_until(lock, until, [&] { return !incoming_.contains(key); });
}

void ShardHandoffs::arrived(const ShardRef& key, const std::string& from, ArrivingActor actor) {
  std::lock_guard lock(mutex_);
  if (const auto it = incoming_.find(key);
      it != incoming_.end() && it->second.from == from && !it->second.releasing) {
    it->second.actors.push_back(std::move(actor));
    return;
  }
  Early& early = early_[key];
  if (early.from != from) early = Early{from, Clock::now(), {}, false};
  early.actors.push_back(std::move(actor));
}

void ShardHandoffs::released(const ShardRef& key, const std::string& from, bool answer) {
  std::vector<ShardRef> ready;
  {
    std::lock_guard lock(mutex_);
    if (const auto it = incoming_.find(key); it != incoming_.end() && it->second.from == from) {
      if (start_release_locked(it)) ready.push_back(key);
    } else if (!answer) {
      Early& early = early_[key];
      if (early.from != from) early = Early{from, Clock::now(), {}, false};
      early.released = true;
    }
  }
  post_all(ready);
}

bool ShardHandoffs::start_release_locked(std::map<ShardRef, Incoming>::iterator it) {
  if (it->second.releasing) return false;  // a duplicate RELEASE, or a deadline meanwhile
  it->second.releasing = true;
  return true;
}

void ShardHandoffs::post_all(const std::vector<ShardRef>& keys) {
  for (const ShardRef& key : keys) post_([this, key] { finish(key); });
}

void ShardHandoffs::finish(const ShardRef& key) {
  std::unique_lock lock(mutex_);
  auto it = incoming_.find(key);
  // One finisher per release: a deadline's and release_all()'s may race.
  if (it == incoming_.end() || !it->second.releasing || it->second.finishing) return;
  it->second.finishing = true;
  std::vector<ArrivingActor> actors = std::move(it->second.actors);
  it->second.actors.clear();
  lock.unlock();
  adopt_(key, std::move(actors));
  const Finishing outer = std::exchange(finishing_here, Finishing{this, key});
  lock.lock();
  for (;;) {
    it = incoming_.find(key);
    std::vector<Resume> parked = std::move(it->second.parked);
    it->second.parked.clear();
    if (parked.empty()) break;
    lock.unlock();
    for (Resume& resume : parked) resume();
    lock.lock();
  }
  finishing_here = outer;
  if (auto next = std::move(it->second.expected_next)) {
    // The shard left and is coming back meanwhile: it waits again, for its new previous owner.
    it->second.releasing = false;
    it->second.finishing = false;
    it->second.expected_next.reset();
    arm_locked(it->second, next->first, next->second);
    return;
  }
  incoming_.erase(it);
  waiting_count_.fetch_sub(1, std::memory_order_relaxed);
  released_cv_.notify_all();
}

void ShardHandoffs::forget(const std::string& node) {
  std::vector<ShardRef> ready;
  {
    std::lock_guard lock(mutex_);
    for (auto it = incoming_.begin(); it != incoming_.end(); ++it) {
      if (it->second.from == node && start_release_locked(it)) ready.push_back(it->first);
    }
    std::erase_if(early_, [&](const auto& entry) { return entry.second.from == node; });
  }
  post_all(ready);
}

std::vector<ShardRef> ShardHandoffs::expire(Clock::time_point now) {
  std::vector<ShardRef> timed_out;
  {
    std::lock_guard lock(mutex_);
    for (auto it = incoming_.begin(); it != incoming_.end(); ++it) {
      if (it->second.deadline <= now && start_release_locked(it)) timed_out.push_back(it->first);
    }
    std::erase_if(early_, [&](const auto& entry) { return now - entry.second.at > kKeepEarly; });
  }
  post_all(timed_out);
  return timed_out;
}

void ShardHandoffs::release_all() {
  std::vector<ShardRef> keys;
  {
    std::lock_guard lock(mutex_);
    for (auto it = incoming_.begin(); it != incoming_.end(); ++it) {
      it->second.expected_next.reset();
      start_release_locked(it);
      keys.push_back(it->first);
    }
  }
  for (const ShardRef& key : keys) finish(key);
}

ShardHandoffs::Asks ShardHandoffs::due_asks(Clock::time_point now,
                                            const std::function<double()>& jitter) {
  std::lock_guard lock(mutex_);
  Asks asks;
  for (auto& [key, incoming] : incoming_) {
    if (incoming.releasing || incoming.next_ask > now) continue;
    asks[PeerCapability{incoming.from, key.capability}].push_back(key.shard);
    incoming.ask_delay = std::min<Clock::duration>(incoming.ask_delay * 2, kMaxAskDelay);
    incoming.next_ask =
        now + std::chrono::duration_cast<Clock::duration>(incoming.ask_delay * jitter());
  }
  return asks;
}

bool ShardHandoffs::outgoing(const ShardRef& key) const {
  std::lock_guard lock(mutex_);
  return outgoing_.contains(key);
}

void ShardHandoffs::outgoing_changed(const ShardRef& key, int delta) {
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
