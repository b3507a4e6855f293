// memory_store(): the StateStore of tests, with the same fencing rules as the real ones.
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "mesh/state_store.hpp"

namespace mesh {
namespace {

class MemoryStore final : public StateStore {
 public:
  Result<std::uint64_t> claim(std::string_view capability, std::uint32_t shard,
                              std::string_view) override {
    std::lock_guard lock(mutex_);
    return ++fences_[{std::string(capability), shard}];
  }

  Result<std::optional<std::string>> load(const StateKey& key) override {
    std::lock_guard lock(mutex_);
    const auto it = rows_.find(row_of(key));
    if (it == rows_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  Result<std::vector<std::size_t>> save(std::span<const StateWrite> writes) override {
    std::lock_guard lock(mutex_);
    std::vector<std::size_t> fenced;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      if (!current(writes[i].key, writes[i].fence)) {
        fenced.push_back(i);
        continue;
      }
      rows_[row_of(writes[i].key)] = writes[i].state;
    }
    return fenced;
  }

  Result<void> erase(const StateKey& key, std::uint64_t fence) override {
    std::lock_guard lock(mutex_);
    if (!current(key, fence)) {
      return std::unexpected(Error{Errc::fenced, "shard " + std::to_string(key.shard) + " of " +
                                                     key.capability + " was claimed since"});
    }
    rows_.erase(row_of(key));
    return {};
  }

 private:
  using Row = std::tuple<std::string, std::string, std::string>;
  static Row row_of(const StateKey& key) { return {key.capability, key.module, key.id}; }
  bool current(const StateKey& key, std::uint64_t fence) const {
    const auto it = fences_.find({key.capability, key.shard});
    return it != fences_.end() && it->second == fence;
  }

  std::mutex mutex_;
  std::map<std::pair<std::string, std::uint32_t>, std::uint64_t> fences_;
  std::map<Row, std::string> rows_;
};

}  // namespace

std::shared_ptr<StateStore> memory_store() { return std::make_shared<MemoryStore>(); }

}  // namespace mesh
