#include "runtime/state_writer.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace mesh::detail {
namespace {

using namespace std::chrono_literals;

// A memory store that counts the batches it saved and says how many lanes it wants.
class CountingStore final : public StateStore {
 public:
  explicit CountingStore(std::size_t lanes) : lanes_(lanes) {}
  Result<std::uint64_t> claim(std::string_view c, std::uint32_t s, std::string_view n) override {
    return inner_->claim(c, s, n);
  }
  Result<std::optional<std::string>> load(const StateKey& key) override {
    return inner_->load(key);
  }
  Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) override {
    {
      std::unique_lock lock(mutex_);
      ++started_;
      changed_.notify_all();
      changed_.wait_for(lock, 10s, [&] { return !held_; });
    }
    auto saved = inner_->save(writes);
    std::lock_guard lock(mutex_);
    ++batches_;
    changed_.notify_all();
    return saved;
  }
  Result<void> erase(const StateKey& key, std::uint64_t fence) override {
    return inner_->erase(key, fence);
  }
  std::size_t concurrent_writes() const override { return lanes_; }
  // Waits up to 5 s for `n` saved batches.
  bool wait_for_batches(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return batches_ >= n; });
  }
  // Waits up to 5 s for `n` saves to have begun.
  bool wait_for_started(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return started_ >= n; });
  }
  // While held, a save waits (up to 10 s) before it writes anything.
  void hold(bool on) {
    std::lock_guard lock(mutex_);
    held_ = on;
    changed_.notify_all();
  }

 private:
  std::shared_ptr<StateStore> inner_ = memory_store();
  const std::size_t lanes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t batches_ = 0;
  std::size_t started_ = 0;
  bool held_ = false;
};

StateKey key(std::string id) { return StateKey{"game", "Counter", std::move(id), 7}; }

// Each write's fence: the shard's claim, so that the memory store applies it.
std::uint64_t claim(StateStore& store) { return *store.claim("game", 7, "n1"); }

// Releasing a commit's replies (its `done`s) must not hold the next commit back: a `done` that
// has not returned yet leaves the writer free to commit what was queued meanwhile.
TEST(StateWriterTest, TheNextCommitDoesNotWaitForThePreviousOnesDones) {
  auto store = std::make_shared<CountingStore>(1);
  const std::uint64_t fence = claim(*store);
  StateWriter writer(store, nullptr);
  std::promise<void> let_go;
  std::shared_future<void> released = let_go.get_future().share();
  store->hold(true);
  writer.write(key("a"), fence, "1", false, [&](Result<void> r) {
    EXPECT_TRUE(r.has_value());
    released.wait_for(10s);
  });
  // "b" is queued while "a" commits, so the writer has a next commit to go on with.
  ASSERT_TRUE(store->wait_for_started(1));
  std::promise<void> second_done;
  writer.write(key("b"), fence, "2", false, [&](Result<void> r) {
    EXPECT_TRUE(r.has_value());
    second_done.set_value();
  });
  store->hold(false);
  EXPECT_TRUE(store->wait_for_batches(2)) << "the second commit waited for the first's done";
  let_go.set_value();
  EXPECT_EQ(second_done.get_future().wait_for(5s), std::future_status::ready);
}

// With nothing queued after a commit, its `done`s run on the writer itself: a lone caller is not
// woken through a second thread.
TEST(StateWriterTest, ALoneCommitsDoneRunsOnTheWriter) {
  auto store = std::make_shared<CountingStore>(1);
  const std::uint64_t fence = claim(*store);
  StateWriter writer(store, nullptr);
  for (int i = 0; i < 20; ++i) {
    std::promise<std::string> ran_on;
    writer.write(key("a"), fence, std::to_string(i), false, [&](Result<void> r) {
      EXPECT_TRUE(r.has_value());
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof name);
      ran_on.set_value(name);
    });
    auto future = ran_on.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(future.get(), "mesh-writer") << "write " << i;
  }
}

// The `done`s of one key's writes run in the order the writes were queued, and stop() returns
// only once every queued write is committed and its `done` has run.
TEST(StateWriterTest, DonesRunInOrderAndAllBeforeStopReturns) {
  for (const std::size_t lanes : {1u, 2u}) {
    auto store = std::make_shared<CountingStore>(lanes);
    const std::uint64_t fence = claim(*store);
    StateWriter writer(store, nullptr);
    std::mutex mutex;
    std::vector<int> order;
    constexpr int kWrites = 2000;
    for (int i = 0; i < kWrites; ++i) {
      writer.write(key("k"), fence, std::to_string(i), true, [&, i](Result<void> r) {
        EXPECT_TRUE(r.has_value());
        std::lock_guard lock(mutex);
        order.push_back(i);
      });
    }
    writer.stop();
    std::lock_guard lock(mutex);
    ASSERT_EQ(order.size(), static_cast<std::size_t>(kWrites)) << lanes << " lanes";
    for (int i = 0; i < kWrites; ++i) ASSERT_EQ(order[i], i) << lanes << " lanes";
    EXPECT_EQ(*store->load(key("k")), std::optional<std::string>(std::to_string(kWrites - 1)));
    EXPECT_FALSE(writer.pending(key("k")).has_value());
  }
}

}  // namespace
}  // namespace mesh::detail
