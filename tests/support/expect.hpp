// Checks on mesh::Result that fail the test with a readable message instead of reading the
// wrong side of the std::expected (undefined behaviour when a regression flips the outcome).
//
//   EXPECT_TRUE(IsError(r, Errc::actor_crashed));            // the code only
//   EXPECT_TRUE(IsError(r, Errc::actor_crashed, "kaboom"));  // and exactly that message
//   ASSERT_TRUE(HasValue(r));                                // then *r / r-> are safe
//
// Polling for an event with a bounded wait is eventually(), in test_actors.hpp.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <mesh/mesh.hpp>

namespace mesh::test {

namespace expect_detail {

// What a Result that holds a value holds, for a failure message.
template <class T>
std::string describe_value(const Result<T>& result) {
  if constexpr (std::is_void_v<T>) {
    return "a value (void)";
  } else if constexpr (std::is_same_v<T, Reply>) {
    return "the reply " + result->value.dump() + " from " + result->pid.to_string();
  } else {
    return "the value " + ::testing::PrintToString(*result);
  }
}

}  // namespace expect_detail

// Passes when `result` holds an error with code `code` and, when `message` is given, exactly
// that message. Fails (never crashes) when it holds a value, which the message shows, or
// another error, which the message shows with its code and text.
template <class T>
::testing::AssertionResult IsError(const Result<T>& result, Errc code,
                                   std::optional<std::string_view> message = std::nullopt) {
  if (result.has_value()) {
    return ::testing::AssertionFailure()
           << "expected the error " << code << " but got " << expect_detail::describe_value(result);
  }
  const Error& error = result.error();
  if (error.code != code) {
    return ::testing::AssertionFailure()
           << "expected the error " << code << " but got the error " << error;
  }
  if (message && error.message != *message) {
    return ::testing::AssertionFailure()
           << "expected the error " << code << " with message \"" << *message
           << "\" but its message is \"" << error.message << "\"";
  }
  return ::testing::AssertionSuccess() << "got the error " << error;
}

// Passes when `result` holds a value; otherwise the message shows the error.
template <class T>
::testing::AssertionResult HasValue(const Result<T>& result) {
  if (!result.has_value()) {
    return ::testing::AssertionFailure() << "expected a value but got the error " << result.error();
  }
  return ::testing::AssertionSuccess() << "got " << expect_detail::describe_value(result);
}

}  // namespace mesh::test
