// shard_for must never change: these vectors pin XXH3-64 (seed 0) of the id's bytes.
#include <gtest/gtest.h>

#include <mesh/mesh.hpp>

namespace mesh {
namespace {

TEST(StableHashTest, KnownVectors) {
  EXPECT_EQ(stable_hash(""), 0x2D06800538D394C2ull);  // the published XXH3-64 of no bytes
  EXPECT_EQ(stable_hash("a"), 0xE6C632B61E964E1Full);
  EXPECT_EQ(stable_hash("player_123"), 0xFB48D9E9DA890146ull);
  EXPECT_EQ(stable_hash("actor-0"), 0x9741856D2EDD1F11ull);
  EXPECT_EQ(stable_hash("hello world"), 0xD447B1EA40E6988Bull);
  const std::string long_id = [] {
    std::string s;
    for (int i = 0; i < 15; ++i) s += "0123456789abcdef";
    return s;
  }();
  EXPECT_EQ(stable_hash(long_id), 0x29B2C4184EC07CA9ull);
}

TEST(StableHashTest, ShardIsHashModuloShardCount) {
  EXPECT_EQ(shard_of("player_123", 4096), 326u);
  EXPECT_EQ(shard_of("hello world", 4096), 2187u);
  EXPECT_EQ(shard_of("hello world", 7), 0xD447B1EA40E6988Bull % 7);
  EXPECT_EQ(shard_of("anything", 1), 0u);
}

TEST(StableHashTest, HashesBytesNotCharacters) {
  const std::string with_nul("a\0b", 3);
  EXPECT_NE(stable_hash(with_nul), stable_hash("a"));
  EXPECT_NE(stable_hash("\xc3\xa9"), stable_hash("e"));
}

TEST(StableHashTest, NodeShardForMatchesShardOf) {
  Node node(NodeOptions{.name = "n", .shard_count = 1024});
  EXPECT_EQ(node.shard_for("player_123"), shard_of("player_123", 1024));
  Node dflt(NodeOptions{.name = "d"});
  EXPECT_EQ(dflt.shard_for("player_123"), 326u);
}

}  // namespace
}  // namespace mesh
