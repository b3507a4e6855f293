// Crashes, failed activations and request errors.
#include <gtest/gtest.h>

#include "support/expect.hpp"
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
  EXPECT_TRUE(IsError(crash, Errc::actor_crashed, "kaboom"));
  auto after = node.call(req("Crasher", "x"));
  ASSERT_TRUE(after) << after.error();
  EXPECT_NE(after->pid, before->pid);
  EXPECT_EQ(after->value, 1) << "the fresh activation starts from its constructor";
}

TEST_F(ErrorsTest, CrashLeavesOtherActorsAlone) {
  auto other = node.call(req("Counter", "bystander"));
  ASSERT_TRUE(HasValue(other));
  ASSERT_TRUE(HasValue(node.call(req("Crasher", "y"))));
  ASSERT_TRUE(IsError(node.call(req("Crasher", "y", {{"op", "crash"}})), Errc::actor_crashed));
  auto again = node.call(req("Counter", "bystander"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->pid, other->pid);
  EXPECT_EQ(again->value, 2);
}

TEST_F(ErrorsTest, ThrowInConstructorIsActivationFailed) {
  auto r = node.call(req("FailingInit", "bad-1"));
  EXPECT_TRUE(IsError(r, Errc::activation_failed, "cannot start bad-1"));
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
    EXPECT_TRUE(IsError(node.call(r), Errc::invalid_request))
        << "call " << r.module << "/" << r.id << "/" << r.capability;
    EXPECT_TRUE(IsError(node.cast(r), Errc::invalid_request))
        << "cast " << r.module << "/" << r.id << "/" << r.capability;
  }
  Request zero = req("Counter", "id");
  zero.timeout = 0ms;
  EXPECT_TRUE(IsError(node.call(zero), Errc::invalid_request));
}

TEST_F(ErrorsTest, UnknownCapabilityIsNoNodes) {
  EXPECT_TRUE(IsError(node.call(req("Counter", "id", {}, "nobody-has-this")), Errc::no_nodes));
  EXPECT_TRUE(IsError(node.cast(req("Counter", "id", {}, "nobody")), Errc::no_nodes));
}

TEST_F(ErrorsTest, NodeWithoutCapabilitiesHasNoNodes) {
  Node bare(NodeOptions{.name = "bare"});
  bare.register_actor<Counter>("Counter");
  EXPECT_TRUE(IsError(bare.call(req("Counter", "id")), Errc::no_nodes));
}

TEST_F(ErrorsTest, UnknownModuleIsUnknownModule) {
  EXPECT_TRUE(IsError(node.call(req("NoSuchModule", "id")), Errc::unknown_module));
  // The failure is known before anything is queued, so `done` runs before async_call returns.
  std::optional<Result<Reply>> async;
  node.async_call(req("NoSuchModule", "id"), [&](Result<Reply> reply) { async = std::move(reply); });
  ASSERT_TRUE(async.has_value()) << "done did not run before async_call returned";
  EXPECT_TRUE(IsError(*async, Errc::unknown_module));
}

TEST_F(ErrorsTest, TimeoutIsBoundedAndTheLateReplyIsDropped) {
  // Keep the actor busy on a pool thread so that the timed call has to wait in its mailbox.
  ASSERT_TRUE(node.cast(req("Sleeper", "slow", {{"ms", 300}})));
  Request timed = req("Sleeper", "slow", {{"ms", 0}});
  timed.timeout = 50ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = node.call(std::move(timed));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(IsError(r, Errc::timeout));
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
  // This call queues behind the cast and the timed-out request, so when it returns the
  // timed-out request has been run or skipped: a late reply would have come by now.
  auto next = node.call(req("Sleeper", "slow-async"));
  ASSERT_TRUE(HasValue(next));
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
  EXPECT_TRUE(IsError(r, Errc::timeout));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
}

// The checks above rely on IsError/HasValue failing, not crashing, when a result is not what
// they expect; and on their messages saying what it was.
TEST(ExpectHelpersTest, IsErrorAndHasValueFailReadably) {
  const Result<Reply> value = Reply{.pid = {}, .value = 42};
  const Result<Reply> crashed = std::unexpected(Error{Errc::actor_crashed, "kaboom"});
  const Result<void> done;

  EXPECT_TRUE(IsError(crashed, Errc::actor_crashed));
  EXPECT_TRUE(IsError(crashed, Errc::actor_crashed, "kaboom"));
  EXPECT_TRUE(HasValue(value));
  EXPECT_TRUE(HasValue(done));

  const auto on_value = IsError(value, Errc::timeout);
  EXPECT_FALSE(on_value);
  EXPECT_NE(std::string(on_value.message()).find("42"), std::string::npos) << on_value.message();
  const auto on_void = IsError(done, Errc::timeout);
  EXPECT_FALSE(on_void);
  const auto other_code = IsError(crashed, Errc::timeout);
  EXPECT_FALSE(other_code);
  EXPECT_NE(std::string(other_code.message()).find("actor_crashed: kaboom"), std::string::npos)
      << other_code.message();
  const auto other_message = IsError(crashed, Errc::actor_crashed, "boom");
  EXPECT_FALSE(other_message);
  EXPECT_NE(std::string(other_message.message()).find("kaboom"), std::string::npos)
      << other_message.message();
  const auto no_value = HasValue(crashed);
  EXPECT_FALSE(no_value);
  EXPECT_NE(std::string(no_value.message()).find("kaboom"), std::string::npos) << no_value.message();
}

}  // namespace
}  // namespace mesh::test
