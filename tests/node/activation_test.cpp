// Lazy activation, Pid reuse, init_arg, actor identity.
#include <gtest/gtest.h>

#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

class ActivationTest : public ::testing::Test {
 protected:
  void SetUp() override { register_all(node); }
  Node node{small_node()};
};

TEST_F(ActivationTest, FirstCallActivatesAndLaterCallsReuseThePid) {
  auto first = node.call(req("Counter", "c1"));
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(first->value, 1);
  EXPECT_EQ(first->pid.node, "n1");
  auto second = node.call(req("Counter", "c1"));
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(second->value, 2);
  EXPECT_EQ(second->pid, first->pid);
}

TEST_F(ActivationTest, DifferentIdsAreDifferentActivations) {
  auto a = node.call(req("Counter", "a"));
  auto b = node.call(req("Counter", "b"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->pid, b->pid);
  EXPECT_EQ(b->value, 1);
}

TEST_F(ActivationTest, InitArgIsUsedByTheFirstActivationOnly) {
  Request first = req("Counter", "with-init");
  first.init_arg = Value{{"start", 10}};
  auto r1 = node.call(std::move(first));
  ASSERT_TRUE(r1) << r1.error();
  EXPECT_EQ(r1->value, 11);
  Request second = req("Counter", "with-init");
  second.init_arg = Value{{"start", 100}};
  auto r2 = node.call(std::move(second));
  ASSERT_TRUE(r2) << r2.error();
  EXPECT_EQ(r2->value, 12) << "a live activation ignores init_arg";
  EXPECT_EQ(r2->pid, r1->pid);
}

TEST_F(ActivationTest, WithoutInitArgTheIdConstructorIsUsed) {
  auto r = node.call(req("Counter", "plain"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, 1);
}

TEST_F(ActivationTest, SameIdUnderTwoCapabilitiesIsTwoActors) {
  node.register_capabilities({"test", "other"});
  auto a = node.call(req("Counter", "shared", {}, "test"));
  auto b = node.call(req("Counter", "shared", {}, "other"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->pid, b->pid);
  EXPECT_EQ(a->value, 1);
  EXPECT_EQ(b->value, 1);
}

TEST_F(ActivationTest, SameIdUnderTwoModulesIsTwoActors) {
  auto a = node.call(req("Counter", "shared"));
  auto b = node.call(req("Crasher", "shared"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->pid, b->pid);
}

TEST_F(ActivationTest, ContextKnowsItsActor) {
  auto r = node.call(req("Relay", "me"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->value["at"], "me");
  EXPECT_EQ(r->value["pid"], r->pid.to_string());
}

TEST_F(ActivationTest, CastActivatesToo) {
  ASSERT_TRUE(node.cast(req("Counter", "by-cast")));
  // The cast is queued ahead of this call, so the call sees its increment.
  auto r = node.call(req("Counter", "by-cast", {{"op", "get"}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, 1);
}

TEST_F(ActivationTest, AsyncCallDeliversExactlyOnce) {
  std::atomic<int> calls{0};
  std::atomic<int> value{0};
  node.async_call(req("Counter", "async"), [&](Result<Reply> r) {
    value = r ? r->value.get<int>() : -1;
    ++calls;
  });
  ASSERT_TRUE(eventually([&] { return calls.load() == 1; }));
  EXPECT_EQ(value.load(), 1);
  // A later call to the same actor is handled after the async one, so when it returns any
  // second delivery of the async reply would have happened.
  auto later = node.call(req("Counter", "async", {{"op", "get"}}));
  ASSERT_TRUE(later) << later.error();
  EXPECT_EQ(later->value, 1) << "the async call ran once";
  EXPECT_EQ(calls.load(), 1) << "done ran more than once";
}

}  // namespace
}  // namespace mesh::test
