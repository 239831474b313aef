// ServiceShared under threads: worker loops admit, release and count failed logins at once, and
// the process-wide numbers stay exact (no lost update, no limit exceeded).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gateway/limits/admission_control.h"
#include "gateway/limits/auth_throttle.h"
#include "gateway/limits/maildrop_lock.h"

namespace popgate {
namespace {

constexpr int kThreads = 4;

TEST(ServiceSharedUnderThreads, ThePerAddressSessionLimitHoldsAcrossThreads) {
  AdmissionControl admission;
  const AdmissionLimits limits{0, 3, 0};
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::atomic<uint64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        if (admission.admit("192.0.2.7", 0, limits) != Refusal::None) continue;
        ++admitted;
        const int now = ++inside;
        int seen = most_inside.load();
        while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
        }
        --inside;
        admission.release("192.0.2.7");
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GT(admitted.load(), 0u);
  EXPECT_LE(most_inside.load(), 3) << "more sessions for one address than its limit";
  EXPECT_EQ(admission.sessions(), 0u) << "a release was lost";
  EXPECT_EQ(admission.tracked_addresses(), 0u);
}

TEST(ServiceSharedUnderThreads, TheSessionCountIsExactWhileThreadsHoldSessions) {
  AdmissionControl admission;
  const AdmissionLimits limits{0, 0, 0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5'000; ++i) {
        ASSERT_EQ(admission.admit("198.51.100." + std::to_string(t), 0, limits), Refusal::None);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admission.sessions(), static_cast<uint64_t>(kThreads) * 5'000);
  // One more admission over a total limit of exactly that many is refused.
  EXPECT_EQ(admission.admit("203.0.113.1", 0, AdmissionLimits{kThreads * 5'000u, 0, 0}),
            Refusal::MaxSessions);
}

TEST(ServiceSharedUnderThreads, FailedLoginsFromEveryThreadAreCountedOnce) {
  AuthThrottle throttle;
  constexpr uint64_t kEach = 2'000;
  AuthThrottleSettings settings;
  settings.max_failures_per_address = 0;
  settings.base_delay_ms = 1;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kEach; ++i) {
        throttle.record_failure("192.0.2." + std::to_string(t), "Alice", 0, settings);
        throttle.locked_out("192.0.2.1", "alice", 0, settings);  // readers run alongside
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // Exactly kThreads × kEach failures for the user: locked out at that threshold, not one above.
  settings.max_failures_per_user = kThreads * kEach;
  EXPECT_TRUE(throttle.locked_out("203.0.113.9", "ALICE", 0, settings));
  settings.max_failures_per_user = kThreads * kEach + 1;
  EXPECT_FALSE(throttle.locked_out("203.0.113.9", "alice", 0, settings)) << "a failure was counted twice";
  EXPECT_EQ(throttle.tracked_keys(), static_cast<size_t>(kThreads) + 1);
}

TEST(ServiceSharedUnderThreads, OneMaildropLockHolderAcrossThreads) {
  MaildropLocks locks;
  std::atomic<int> holders{0};
  std::atomic<int> most_holders{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        MaildropLockPtr lock = locks.try_acquire("alice@INBOX");
        if (!lock) continue;
        const int now = ++holders;
        int seen = most_holders.load();
        while (now > seen && !most_holders.compare_exchange_weak(seen, now)) {
        }
        --holders;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(most_holders.load(), 1) << "two sessions held one maildrop";
  EXPECT_EQ(locks.held(), 0u);
}

}  // namespace
}  // namespace popgate
