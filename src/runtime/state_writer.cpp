#include "runtime/state_writer.hpp"

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "core/thread_name.hpp"

namespace mesh::detail {
namespace {

// Writes one transaction may carry: enough to share a commit among thousands of actors, few
// enough that one batch never holds the store for long.
constexpr std::size_t kMaxBatch = 2048;

Error store_error(std::string what) { return Error{Errc::store_unavailable, std::move(what)}; }

Error fenced_error(const StateKey& key) {
  return Error{Errc::fenced, "shard " + std::to_string(key.shard) + " of capability " +
                                 key.capability + " was claimed by another node; " + key.module +
                                 " " + key.id + " is no longer this node's to write"};
}

// A store is user code too: one that throws fails the writes it was given, not the node.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return std::unexpected(store_error(std::string("the state store threw: ") + e.what()));
  } catch (...) {
    return std::unexpected(store_error("the state store threw"));
  }
}

}  // namespace

StateWriter::StateWriter(std::shared_ptr<StateStore> store, Logger log)
    : store_(std::move(store)),
      log_(std::move(log)),
      lane_count_(std::clamp<std::size_t>(store_->concurrent_writes(), 1, kMaxLanes)) {
  for (std::size_t i = 0; i < lane_count_; ++i) {
    lanes_[i].thread = std::thread([this, &lane = lanes_[i]] { run(lane); });
    lanes_[i].completer = std::thread([this, &lane = lanes_[i]] { complete(lane); });
  }
}

StateWriter::~StateWriter() { stop(); }

std::string StateWriter::pending_key(const StateKey& key) {
  std::string joined;
  joined.reserve(key.capability.size() + key.module.size() + key.id.size() + 2);
  joined.append(key.capability).push_back('\0');
  joined.append(key.module).push_back('\0');
  joined.append(key.id);
  return joined;
}

void StateWriter::write(StateKey key, std::uint64_t fence, std::optional<std::string> state,
                        bool visible, Done done) {
  std::uint64_t sequence;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      sequence = 0;
    } else {
      sequence = ++sequence_;
      if (visible) pending_[pending_key(key)] = {sequence, state};
    }
  }
  if (sequence == 0) {
    done(std::unexpected(store_error("the node is shutting down; the state was not written")));
    return;
  }
  const std::size_t hash = std::hash<std::string_view>{}(key.id) ^ key.shard;
  Lane& lane = lanes_[hash % lane_count_];
  const bool erase = !state.has_value();
  std::unique_lock lock(lane.mutex);
  lane.queue.push_back(Item{StateWrite{std::move(key), fence, state ? std::move(*state) : std::string()},
                            erase, visible, sequence, std::move(done)});
  const bool first = lane.queue.size() == 1;
  lock.unlock();
  if (first) lane.wake.notify_one();
}

std::optional<std::optional<std::string>> StateWriter::pending(const StateKey& key) const {
  std::lock_guard lock(mutex_);
  if (pending_.empty()) return std::nullopt;
  const auto it = pending_.find(pending_key(key));
  if (it == pending_.end()) return std::nullopt;
  return it->second.second;
}

void StateWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  // Writes queued before are still committed: a lane ends once its queue is empty.
  for (Lane& lane : lanes_) {
    {
      std::lock_guard lock(lane.mutex);
      lane.stopping = true;
    }
    lane.wake.notify_one();
  }
  for (Lane& lane : lanes_) {
    if (lane.thread.joinable()) lane.thread.join();
    {
      std::lock_guard lock(lane.finished_mutex);
      lane.finishing = true;
    }
    lane.finished_wake.notify_one();
    if (lane.completer.joinable()) lane.completer.join();
  }
}

void StateWriter::run(Lane& lane) {
  name_this_thread("mesh-writer");
  std::deque<Item> batch;
  for (;;) {
    {
      std::unique_lock lock(lane.mutex);
      lane.wake.wait(lock, [&] { return lane.stopping || !lane.queue.empty(); });
      if (lane.queue.empty()) return;  // stopping, and everything queued was committed
      const std::size_t n = std::min(lane.queue.size(), kMaxBatch);
      std::move(lane.queue.begin(), lane.queue.begin() + static_cast<std::ptrdiff_t>(n),
                std::back_inserter(batch));
      lane.queue.erase(lane.queue.begin(), lane.queue.begin() + static_cast<std::ptrdiff_t>(n));
    }
    Finished finished = commit(batch);
    batch.clear();
    if (finished.empty()) continue;
    bool more;
    {
      std::lock_guard lock(lane.mutex);
      more = !lane.queue.empty();
    }
    std::unique_lock lock(lane.finished_mutex);
    if (!more && lane.finished.empty() && !lane.completing) {
      // Nothing waits to be committed, and the completer is idle (so nothing runs out of
      // order): release these here and spare a lone caller the completer's wake-up.
      lock.unlock();
      for (auto& [done, result] : finished) done(std::move(result));
      continue;
    }
    lane.finished.push_back(std::move(finished));
    const bool first = lane.finished.size() == 1;
    lock.unlock();
    if (first) lane.finished_wake.notify_one();
  }
}

void StateWriter::complete(Lane& lane) {
  name_this_thread("mesh-release");
  std::deque<Finished> ready;
  for (;;) {
    {
      std::unique_lock lock(lane.finished_mutex);
      lane.finished_wake.wait(lock, [&] { return lane.finishing || !lane.finished.empty(); });
      if (lane.finished.empty()) return;  // the writer has ended and everything is done
      ready.swap(lane.finished);
      lane.completing = true;
    }
    for (Finished& finished : ready) {
      for (auto& [done, result] : finished) done(std::move(result));
    }
    ready.clear();
    std::lock_guard lock(lane.finished_mutex);
    lane.completing = false;
  }
}

// Consecutive saves go to the store as one batch; an erase (rare: a null snapshot) goes alone,
// in its place, so that writes of one key keep their order.
StateWriter::Finished StateWriter::commit(std::deque<Item>& batch) {
  std::vector<StateWrite> writes;
  std::vector<Item*> owners;
  std::vector<std::pair<Item*, Result<void>>> outcomes;
  outcomes.reserve(batch.size());
  auto save_run = [&] {
    if (writes.empty()) return;
    auto saved = guarded([&] { return store_->save(writes); });
    commits_.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < owners.size(); ++i) {
      if (!saved) {
        outcomes.emplace_back(owners[i], std::unexpected(saved.error()));
      } else if (std::find(saved->begin(), saved->end(), i) != saved->end()) {
        outcomes.emplace_back(owners[i], std::unexpected(fenced_error(writes[i].key)));
      } else {
        outcomes.emplace_back(owners[i], Result<void>{});
      }
    }
    // The owners need their keys back to clear `pending_`.
    for (std::size_t i = 0; i < owners.size(); ++i) owners[i]->write = std::move(writes[i]);
    writes.clear();
    owners.clear();
  };
  for (Item& item : batch) {
    if (!item.erase) {
      writes.push_back(std::move(item.write));
      owners.push_back(&item);
      continue;
    }
    save_run();
    auto erased = guarded([&] { return store_->erase(item.write.key, item.write.fence); });
    commits_.fetch_add(1, std::memory_order_relaxed);
    outcomes.emplace_back(&item, std::move(erased));
  }
  save_run();
  std::uint64_t saved = 0, fenced = 0, failed = 0;
  for (const auto& [item, result] : outcomes) {
    if (result) {
      ++saved;
    } else if (result.error().code == Errc::fenced) {
      ++fenced;
    } else {
      ++failed;
    }
  }
  saved_.fetch_add(saved, std::memory_order_relaxed);
  fenced_.fetch_add(fenced, std::memory_order_relaxed);
  failed_.fetch_add(failed, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    for (auto& [item, result] : outcomes) {
      if (!item->visible) continue;
      const auto it = pending_.find(pending_key(item->write.key));
      if (it != pending_.end() && it->second.first == item->sequence) pending_.erase(it);
    }
  }
  Finished finished;
  finished.reserve(outcomes.size());
  for (auto& [item, result] : outcomes) {
    if (!result && item->visible && log_) {
      log_({LogLevel::warning, "state_not_saved",
            "the state of " + item->write.key.module + " " + item->write.key.id +
                " was not saved: " + to_string(result.error()),
            {{"module", item->write.key.module},
             {"id", item->write.key.id},
             {"error", std::string(to_string(result.error().code))},
             {"reason", result.error().message}}});
    }
    if (item->done) finished.emplace_back(std::move(item->done), std::move(result));
  }
  return finished;
}

StateWriter::Figures StateWriter::figures() const {
  return Figures{commits_.load(std::memory_order_relaxed), saved_.load(std::memory_order_relaxed),
                 fenced_.load(std::memory_order_relaxed), failed_.load(std::memory_order_relaxed)};
}

}  // namespace mesh::detail
