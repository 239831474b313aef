// AuthThrottle: growing delays, lock-out per user and per address, windows, the table bound.
#include "gateway/limits/auth_throttle.h"

#include <gtest/gtest.h>

namespace popgate {
namespace {

AuthThrottleSettings settings() {
  AuthThrottleSettings s;
  s.window_ms = 60'000;
  s.max_failures_per_user = 3;
  s.max_failures_per_address = 5;
  s.base_delay_ms = 1'000;
  s.max_delay_ms = 5'000;
  return s;
}

TEST(AuthThrottle, DelayDoublesWithEachFailureUpToTheCap) {
  AuthThrottle throttle;
  auto s = settings();
  s.max_failures_per_user = 0;  // no lock-out: only the delay
  s.max_failures_per_address = 0;
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 0, s), 1'000u);
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 1, s), 2'000u);
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 2, s), 4'000u);
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 3, s), 5'000u);
  for (int i = 0; i < 100; ++i) throttle.record_failure("192.0.2.1", "alice", 4, s);
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 5, s), 5'000u) << "no overflow past the cap";
  EXPECT_FALSE(throttle.locked_out("192.0.2.1", "alice", 6, s));
}

TEST(AuthThrottle, ZeroBaseDelayStaysZero) {
  AuthThrottle throttle;
  auto s = settings();
  s.base_delay_ms = 0;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 0, s), 0u);
}

TEST(AuthThrottle, UserIsLockedOutAtTheThresholdFromAnyAddressAndAnyCase) {
  AuthThrottle throttle;
  const auto s = settings();
  throttle.record_failure("192.0.2.1", "alice", 0, s);
  throttle.record_failure("192.0.2.2", "Alice", 0, s);
  EXPECT_FALSE(throttle.locked_out("192.0.2.3", "alice", 0, s));
  throttle.record_failure("192.0.2.3", "ALICE", 0, s);
  EXPECT_TRUE(throttle.locked_out("192.0.2.9", "alice", 0, s));
  EXPECT_TRUE(throttle.locked_out("192.0.2.9", "aLiCe", 0, s));
  EXPECT_FALSE(throttle.locked_out("192.0.2.9", "bob", 0, s)) << "another user is not affected";
}

TEST(AuthThrottle, AddressIsLockedOutAcrossUserNames) {
  AuthThrottle throttle;
  const auto s = settings();
  // Password spraying: one guess per name, many names.
  for (int i = 0; i < 5; ++i) throttle.record_failure("198.51.100.7", "user" + std::to_string(i), 0, s);
  EXPECT_TRUE(throttle.locked_out("198.51.100.7", "bob", 0, s));
  EXPECT_FALSE(throttle.locked_out("198.51.100.8", "bob", 0, s)) << "another address is not affected";
}

TEST(AuthThrottle, WindowEndsTheLockOut) {
  AuthThrottle throttle;
  const auto s = settings();
  for (int i = 0; i < 3; ++i) throttle.record_failure("192.0.2.1", "alice", 1'000, s);
  EXPECT_TRUE(throttle.locked_out("192.0.2.1", "alice", 60'999, s));
  EXPECT_FALSE(throttle.locked_out("192.0.2.1", "alice", 61'000, s));
  // A new window starts from scratch: the base delay again.
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 61'000, s), 1'000u);
}

TEST(AuthThrottle, SuccessForgetsTheUserButNotTheAddress) {
  AuthThrottle throttle;
  const auto s = settings();
  throttle.record_failure("192.0.2.1", "alice", 0, s);
  throttle.record_failure("192.0.2.1", "alice", 0, s);
  throttle.record_success("ALICE");
  EXPECT_EQ(throttle.record_failure("192.0.2.2", "alice", 0, s), 1'000u) << "the user's count restarted";
  // The address kept its two failures: the third from it gets the third delay.
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "carol", 0, s), 4'000u);
}

TEST(AuthThrottle, ZeroThresholdsNeverLockOut) {
  AuthThrottle throttle;
  auto s = settings();
  s.max_failures_per_user = 0;
  s.max_failures_per_address = 0;
  for (int i = 0; i < 50; ++i) throttle.record_failure("192.0.2.1", "alice", 0, s);
  EXPECT_FALSE(throttle.locked_out("192.0.2.1", "alice", 0, s));
}

TEST(AuthThrottle, TablesStayBoundedAndKeepCountingNewcomers) {
  AuthThrottle throttle(/*max_tracked_keys=*/8);
  const auto s = settings();
  for (int i = 0; i < 1000; ++i) {
    throttle.record_failure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256),
                            "user" + std::to_string(i), static_cast<uint64_t>(i), s);
  }
  EXPECT_LE(throttle.tracked_keys(), 16u);
  // The newest attacker is still counted, even with every window open.
  for (int i = 0; i < 3; ++i) throttle.record_failure("203.0.113.1", "mallory", 2'000, s);
  EXPECT_TRUE(throttle.locked_out("203.0.113.1", "mallory", 2'000, s));
}

TEST(NoLoginThrottle, NeverLocksOutAndEveryFailureWaitsTheBaseDelay) {
  NoLoginThrottle throttle;
  const auto s = settings();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 0, s), 1'000u) << "no doubling: " << i;
  }
  EXPECT_FALSE(throttle.locked_out("192.0.2.1", "alice", 0, s));
  throttle.record_success("alice");
  EXPECT_EQ(throttle.record_failure("192.0.2.1", "alice", 0, s), 1'000u);
}

}  // namespace
}  // namespace popgate
