// Ledger: what callers were told about increments of counters, and the check that a counter's
// final value agrees with it: no acknowledged increment lost, none counted twice.
//
// Each acknowledged increment returns the counter's new value. If two acknowledged calls got
// the same value, one of them worked on a stale copy and its write overwrote the other's: a
// lost update. If the final value is below an acknowledged one, an acknowledged write was
// lost. Calls that failed may or may not have counted (their reply was lost), so the final
// value may exceed the number of acknowledged calls by at most the number of failed ones.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <mesh/mesh.hpp>

namespace mesh::test {

struct Ledger {
  std::map<std::string, std::vector<long>> acked;  // id -> values acknowledged, any order
  std::map<std::string, long> failed;              // id -> calls that failed
  bool complete = true;  // false when some caller's record was lost (it was killed)

  // Adds what `mesh_node`'s `load stop` reported (its JSON, after "load ").
  void add_load_report(const Value& report) {
    for (auto& [id, values] : report.at("values").items()) {
      auto& mine = acked[id];
      for (const Value& v : values) mine.push_back(v.get<long>());
    }
    for (auto& [id, n] : report.at("failed").items()) failed[id] += n.get<long>();
  }

  std::size_t acknowledged() const {
    std::size_t n = 0;
    for (const auto& [id, values] : acked) n += values.size();
    return n;
  }

  // Checks every counter against its final value (as read back after the run).
  void expect_agrees_with(const std::map<std::string, long>& final_values) const {
    for (const auto& [id, values] : acked) {
      std::vector<long> sorted = values;
      std::sort(sorted.begin(), sorted.end());
      const auto repeated = std::adjacent_find(sorted.begin(), sorted.end());
      EXPECT_EQ(repeated, sorted.end())
          << id << ": value " << *repeated << " was acknowledged twice (a lost update)";
      const auto it = final_values.find(id);
      ASSERT_NE(it, final_values.end()) << id << " has no final value";
      if (!sorted.empty()) {
        EXPECT_GE(it->second, sorted.back())
            << id << ": an acknowledged increment is missing (final " << it->second << ")";
      }
      if (complete) {
        const long failed_here = failed.count(id) ? failed.at(id) : 0;
        EXPECT_LE(it->second, static_cast<long>(sorted.size()) + failed_here)
            << id << ": more increments than calls";
        EXPECT_GE(it->second, static_cast<long>(sorted.size()))
            << id << ": fewer increments than acknowledged calls";
      }
    }
  }
};

}  // namespace mesh::test
