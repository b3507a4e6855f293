// Crashes, failed activations and request errors.
#include <gtest/gtest.h>

#include "support/test_actors.hpp"

namespace mesh::test {
namespace {

class ErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override { register_all(node); }
  Node node{small_node()};
};

TEST_F(ErrorsTest, ThrowInHandleCallIsActorCrashedAndNextCallGetsAFreshActor) {
  auto before = node.call(req("Crasher", "x"));
  ASSERT_TRUE(before);
  EXPECT_EQ(before->value, 1);
  auto crash = node.call(req("Crasher", "x", {{"op", "crash"}, {"why", "kaboom"}}));
  ASSERT_FALSE(crash);
  EXPECT_EQ(crash.error().code, Errc::actor_crashed);
  EXPECT_EQ(crash.error().message, "kaboom");
  auto after = node.call(req("Crasher", "x"));
  ASSERT_TRUE(after) << after.error();
  EXPECT_NE(after->pid, before->pid);
  EXPECT_EQ(after->value, 1) << "the fresh activation starts from its constructor";
}

TEST_F(ErrorsTest, CrashLeavesOtherActorsAlone) {
  auto other = node.call(req("Counter", "bystander"));
  ASSERT_TRUE(node.call(req("Crasher", "y")));
  ASSERT_FALSE(node.call(req("Crasher", "y", {{"op", "crash"}})));
  auto again = node.call(req("Counter", "bystander"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->pid, other->pid);
  EXPECT_EQ(again->value, 2);
}

TEST_F(ErrorsTest, ThrowInConstructorIsActivationFailed) {
  auto r = node.call(req("FailingInit", "bad-1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::activation_failed);
  EXPECT_EQ(r.error().message, "cannot start bad-1");
  auto ok = node.call(req("FailingInit", "good-1"));
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->value, "ok");
}

TEST_F(ErrorsTest, ThrowInHandleCastDiscardsThatActivationOnly) {
  auto before = node.call(req("Crasher", "z"));
  auto bystander = node.call(req("Crasher", "w"));
  ASSERT_TRUE(before && bystander);
  ASSERT_TRUE(node.cast(req("Crasher", "z", {{"op", "crash"}})));
  // The cast runs before this call (same caller, same actor), so the call meets a fresh actor.
  auto after = node.call(req("Crasher", "z"));
  ASSERT_TRUE(after) << after.error();
  EXPECT_NE(after->pid, before->pid);
  EXPECT_EQ(after->value, 1);
  auto other = node.call(req("Crasher", "w"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->pid, bystander->pid);
  EXPECT_EQ(other->value, 2);
}

TEST_F(ErrorsTest, CastToActorWithoutHandleCastIsACrash) {
  auto before = node.call(req("FailingInit", "no-cast"));
  ASSERT_TRUE(before);
  ASSERT_TRUE(node.cast(req("FailingInit", "no-cast")));
  auto after = node.call(req("FailingInit", "no-cast"));
  ASSERT_TRUE(after);
  EXPECT_NE(after->pid, before->pid);
}

TEST_F(ErrorsTest, EmptyFieldsAreInvalidRequest) {
  for (Request r : {req("", "id"), req("Counter", ""), req("Counter", "id", {}, "")}) {
    auto call = node.call(r);
    ASSERT_FALSE(call);
    EXPECT_EQ(call.error().code, Errc::invalid_request);
    auto cast = node.cast(r);
    ASSERT_FALSE(cast);
    EXPECT_EQ(cast.error().code, Errc::invalid_request);
  }
  Request zero = req("Counter", "id");
  zero.timeout = 0ms;
  EXPECT_EQ(node.call(zero).error().code, Errc::invalid_request);
}

TEST_F(ErrorsTest, UnknownCapabilityIsNoNodes) {
  auto r = node.call(req("Counter", "id", {}, "nobody-has-this"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::no_nodes);
  EXPECT_EQ(node.cast(req("Counter", "id", {}, "nobody")).error().code, Errc::no_nodes);
}

TEST_F(ErrorsTest, NodeWithoutCapabilitiesHasNoNodes) {
  Node bare(NodeOptions{.name = "bare"});
  bare.register_actor<Counter>("Counter");
  EXPECT_EQ(bare.call(req("Counter", "id")).error().code, Errc::no_nodes);
}

TEST_F(ErrorsTest, UnknownModuleIsUnknownModule) {
  auto r = node.call(req("NoSuchModule", "id"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unknown_module);
  std::atomic<int> code{0};
  node.async_call(req("NoSuchModule", "id"), [&](Result<Reply> reply) {
    code = static_cast<int>(reply.error().code);
  });
  EXPECT_EQ(code.load(), static_cast<int>(Errc::unknown_module));
}

TEST_F(ErrorsTest, TimeoutIsBoundedAndTheLateReplyIsDropped) {
  // Keep the actor busy on a pool thread so that the timed call has to wait in its mailbox.
  ASSERT_TRUE(node.cast(req("Sleeper", "slow", {{"ms", 300}})));
  Request timed = req("Sleeper", "slow", {{"ms", 0}});
  timed.timeout = 50ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = node.call(std::move(timed));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 250ms);
  // The next call gets its own reply: the cast and this call ran, the timed-out one was skipped.
  auto next = node.call(req("Sleeper", "slow", {{"ms", 0}}));
  ASSERT_TRUE(next) << next.error();
  EXPECT_EQ(next->value, 2);
}

TEST_F(ErrorsTest, AsyncCallTimesOut) {
  ASSERT_TRUE(node.cast(req("Sleeper", "slow-async", {{"ms", 300}})));
  Request timed = req("Sleeper", "slow-async");
  timed.timeout = 30ms;
  std::atomic<int> code{-1};
  std::atomic<int> calls{0};
  node.async_call(std::move(timed), [&](Result<Reply> r) {
    code = r ? 0 : static_cast<int>(r.error().code);
    ++calls;
  });
  ASSERT_TRUE(eventually([&] { return calls.load() == 1; }, 250ms));
  EXPECT_EQ(code.load(), static_cast<int>(Errc::timeout));
  std::this_thread::sleep_for(350ms);
  EXPECT_EQ(calls.load(), 1) << "done runs exactly once";
}

TEST_F(ErrorsTest, SlowModuleStopsRunningOnCallersThreadsSoTimeoutsHold) {
  // Slow runs happen inline and teach the node that Sleeper is slow. A run counts only if its
  // thread was not preempted meanwhile, so a loaded machine may need more than one.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(node.call(req("Sleeper", "teach", {{"ms", 20}})));
  // ...so the next call to an idle Sleeper goes through the pool and its timeout holds.
  Request timed = req("Sleeper", "idle-but-slow", {{"ms", 400}});
  timed.timeout = 50ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = node.call(std::move(timed));
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
}

}  // namespace
}  // namespace mesh::test
