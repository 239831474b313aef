// UpstreamGovernor: backoff after throttling answers (doubling, Retry-After, reset on success),
// the per-identity session cap and its release, and the bounded table.
#include "gateway/limits/upstream_governor.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace popgate {
namespace {

using Verdict = UpstreamGovernor::Verdict;

UpstreamGovernorSettings settings(uint64_t cap = 3, uint64_t base_ms = 5'000, uint64_t max_ms = 40'000) {
  return UpstreamGovernorSettings{cap, base_ms, max_ms};
}

const std::string kAlice = UpstreamGovernor::identity_key("*@example.com", "Alice@Example.com", "");

TEST(UpstreamGovernor, IdentityKeysNameTheUpstreamAccountNotThePassword) {
  EXPECT_EQ(UpstreamGovernor::identity_key("default", "Alice", ""),
            UpstreamGovernor::identity_key("default", "alice", ""));
  EXPECT_NE(UpstreamGovernor::identity_key("default", "alice", ""),
            UpstreamGovernor::identity_key("*@example.com", "alice", ""));
  // Every device of a local-accounts identity is the same upstream account.
  EXPECT_EQ(UpstreamGovernor::identity_key("default", "scans@example.com", "scanner-box"),
            UpstreamGovernor::identity_key("*", "other", "scanner-box"));
  EXPECT_NE(UpstreamGovernor::identity_key("default", "x", "x"),
            UpstreamGovernor::identity_key("default", "x", ""));
}

TEST(UpstreamGovernor, AThrottlingAnswerBacksOffThenDoublesUpToTheMaximum) {
  UpstreamGovernor governor;
  uint64_t now = 1'000;
  EXPECT_EQ(governor.admit(kAlice, now, settings()).verdict, Verdict::Admitted);
  const std::vector<uint64_t> expected = {5'000, 10'000, 20'000, 40'000, 40'000};
  for (uint64_t backoff : expected) {
    EXPECT_EQ(governor.record_throttled(kAlice, 0, now, settings()), backoff);
    auto during = governor.admit(kAlice, now + backoff - 1, settings());
    EXPECT_EQ(during.verdict, Verdict::BackingOff);
    EXPECT_EQ(during.wait_ms, 1u);
    EXPECT_FALSE(during.slot);
    now += backoff;
    auto after = governor.admit(kAlice, now, settings());
    EXPECT_EQ(after.verdict, Verdict::Admitted) << backoff;
  }
}

TEST(UpstreamGovernor, RetryAfterIsHonouredAsGiven) {
  UpstreamGovernor governor;
  EXPECT_EQ(governor.record_throttled(kAlice, 120'000, 0, settings()),
            120'000u);  // beyond max_ms: the server said so
  EXPECT_EQ(governor.admit(kAlice, 119'999, settings()).verdict, Verdict::BackingOff);
  EXPECT_EQ(governor.admit(kAlice, 120'000, settings()).verdict, Verdict::Admitted);
  // The next one without a hint doubles from where the count is (second in a row).
  EXPECT_EQ(governor.record_throttled(kAlice, 0, 120'000, settings()), 10'000u);
}

TEST(UpstreamGovernor, AnswersDuringABackoffDoNotStretchIt) {
  // Logins that started before the backoff come back throttled too: one episode, one step.
  UpstreamGovernor governor;
  EXPECT_EQ(governor.record_throttled(kAlice, 0, 0, settings()), 5'000u);
  EXPECT_EQ(governor.record_throttled(kAlice, 0, 1'000, settings()), 4'000u);
  EXPECT_EQ(governor.record_throttled(kAlice, 60'000, 2'000, settings()), 3'000u);
  EXPECT_EQ(governor.admit(kAlice, 5'000, settings()).verdict, Verdict::Admitted);
  EXPECT_EQ(governor.record_throttled(kAlice, 0, 5'000, settings()), 10'000u);
}

TEST(UpstreamGovernor, ASuccessfulLoginResetsTheBackoff) {
  UpstreamGovernor governor;
  governor.record_throttled(kAlice, 0, 0, settings());
  governor.record_throttled(kAlice, 0, 5'000, settings());  // 10 s, second in a row
  governor.record_success(kAlice);
  EXPECT_EQ(governor.admit(kAlice, 6'000, settings()).verdict, Verdict::Admitted);
  EXPECT_EQ(governor.record_throttled(kAlice, 0, 6'000, settings()), 5'000u);
}

TEST(UpstreamGovernor, BackoffOnlyConcernsItsIdentity) {
  UpstreamGovernor governor;
  governor.record_throttled(kAlice, 0, 0, settings());
  const std::string bob = UpstreamGovernor::identity_key("*@example.com", "bob@example.com", "");
  EXPECT_EQ(governor.admit(bob, 1, settings()).verdict, Verdict::Admitted);
  EXPECT_EQ(governor.admit(kAlice, 1, settings()).verdict, Verdict::BackingOff);
}

TEST(UpstreamGovernor, BaseZeroTurnsTheBackoffOff) {
  UpstreamGovernor governor;
  EXPECT_EQ(governor.record_throttled(kAlice, 30'000, 0, settings(3, 0)), 0u);
  EXPECT_EQ(governor.admit(kAlice, 1, settings(3, 0)).verdict, Verdict::Admitted);
}

TEST(UpstreamGovernor, TheCapRefusesTheNextSessionUntilOneIsReleased) {
  UpstreamGovernor governor;
  std::vector<UpstreamGovernor::Slot> slots;
  for (int i = 0; i < 3; ++i) {
    auto admission = governor.admit(kAlice, 0, settings());
    ASSERT_EQ(admission.verdict, Verdict::Admitted);
    slots.push_back(std::move(admission.slot));
  }
  EXPECT_EQ(governor.open_sessions(kAlice), 3u);
  EXPECT_EQ(governor.admit(kAlice, 0, settings()).verdict, Verdict::Capped);
  EXPECT_EQ(governor.open_sessions(kAlice), 3u);  // a refusal holds nothing
  slots.pop_back();                               // one session ends
  EXPECT_EQ(governor.open_sessions(kAlice), 2u);
  auto again = governor.admit(kAlice, 0, settings());
  EXPECT_EQ(again.verdict, Verdict::Admitted);
  EXPECT_TRUE(again.slot);
  slots.clear();
  again.slot.release();
  again.slot.release();  // twice is harmless
  EXPECT_EQ(governor.open_sessions(kAlice), 0u);
  EXPECT_EQ(governor.tracked_identities(), 0u);  // nothing left to remember
}

TEST(UpstreamGovernor, ZeroMeansNoCap) {
  UpstreamGovernor governor;
  std::vector<UpstreamGovernor::Slot> slots;
  for (int i = 0; i < 100; ++i) {
    auto admission = governor.admit(kAlice, 0, settings(0));
    ASSERT_EQ(admission.verdict, Verdict::Admitted);
    slots.push_back(std::move(admission.slot));
  }
  EXPECT_EQ(governor.open_sessions(kAlice), 100u);
}

TEST(UpstreamGovernor, AMovedSlotIsReleasedOnce) {
  UpstreamGovernor governor;
  UpstreamGovernor::Slot held = governor.admit(kAlice, 0, settings()).slot;
  UpstreamGovernor::Slot other = governor.admit(kAlice, 0, settings()).slot;
  EXPECT_EQ(governor.open_sessions(kAlice), 2u);
  UpstreamGovernor::Slot moved(std::move(held));
  EXPECT_EQ(governor.open_sessions(kAlice), 2u);
  other = std::move(moved);  // `other`'s own slot goes
  EXPECT_EQ(governor.open_sessions(kAlice), 1u);
}

TEST(UpstreamGovernor, ASlotMayOutliveItsGovernor) {
  UpstreamGovernor::Slot slot;
  {
    UpstreamGovernor governor;
    slot = governor.admit(kAlice, 0, settings()).slot;
  }
  slot.release();  // a retired mailbox destroyed on a later tick than the service
  EXPECT_FALSE(slot);
}

TEST(UpstreamGovernor, TheTableIsBoundedAndKeepsIdentitiesWithOpenSessions) {
  UpstreamGovernor governor(4);
  std::vector<UpstreamGovernor::Slot> slots;
  auto key = [](int i) { return UpstreamGovernor::identity_key("default", "user" + std::to_string(i), ""); };
  // Two identities with sessions open, two backing off.
  slots.push_back(governor.admit(key(0), 0, settings()).slot);
  slots.push_back(governor.admit(key(1), 0, settings()).slot);
  governor.record_throttled(key(2), 0, 0, settings());
  governor.record_throttled(key(3), 50'000, 0, settings());
  EXPECT_EQ(governor.tracked_identities(), 4u);
  // Many more identities come by: the table never grows past its size.
  for (int i = 4; i < 1'000; ++i) {
    governor.record_throttled(key(i), 0, 1'000, settings());
    EXPECT_LE(governor.tracked_identities(), 4u);
  }
  // Entries with sessions open were never dropped: their counts are intact.
  EXPECT_EQ(governor.open_sessions(key(0)), 1u);
  EXPECT_EQ(governor.open_sessions(key(1)), 1u);
  slots.clear();
  EXPECT_EQ(governor.open_sessions(key(0)), 0u);
}

TEST(UpstreamGovernor, AFullTableOfBusyIdentitiesAdmitsUncounted) {
  UpstreamGovernor governor(2);
  std::vector<UpstreamGovernor::Slot> slots;
  slots.push_back(governor.admit("a", 0, settings(1)).slot);
  slots.push_back(governor.admit("b", 0, settings(1)).slot);
  auto third = governor.admit("c", 0, settings(1));
  EXPECT_EQ(third.verdict, Verdict::Admitted);
  EXPECT_EQ(governor.tracked_identities(), 2u);
  third.slot.release();  // releasing an uncounted slot touches nobody's count
  EXPECT_EQ(governor.open_sessions("a"), 1u);
  EXPECT_EQ(governor.admit("a", 0, settings(1)).verdict, Verdict::Capped);
}

TEST(UpstreamGovernor, SlotsFromSeveralThreadsBalance) {
  // --workers: sessions on several loops share one governor.
  UpstreamGovernor governor;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2'000; ++i) {
        auto admission = governor.admit(kAlice, 0, settings(0));
        admission.slot.release();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(governor.open_sessions(kAlice), 0u);
  EXPECT_EQ(governor.tracked_identities(), 0u);
}

TEST(NoIdentityGovernor, AdmitsEveryLoginAndNoThrottlingAnswerBacksOff) {
  NoIdentityGovernor governor;
  std::vector<IdentityGovernor::Slot> slots;
  for (int i = 0; i < 10; ++i) {
    auto admission = governor.admit(kAlice, 0, settings(1));
    EXPECT_EQ(admission.verdict, Verdict::Admitted) << "no cap: " << i;
    slots.push_back(std::move(admission.slot));
  }
  EXPECT_EQ(governor.record_throttled(kAlice, 0, 0, settings()), 0u);
  EXPECT_EQ(governor.record_throttled(kAlice, 60'000, 0, settings()), 0u);
  EXPECT_EQ(governor.admit(kAlice, 1, settings()).verdict, Verdict::Admitted) << "no backoff";
}

TEST(IdentityGovernorSlot, ReleasesOnceWhetherReleasedMovedOrDestroyed) {
  int released = 0;
  {
    IdentityGovernor::Slot slot([&] { ++released; });
    EXPECT_TRUE(slot);
    IdentityGovernor::Slot moved = std::move(slot);
    EXPECT_FALSE(slot);  // NOLINT(bugprone-use-after-move): a moved-from slot holds nothing
    moved.release();
    moved.release();
    EXPECT_FALSE(moved);
  }
  EXPECT_EQ(released, 1);
  {
    IdentityGovernor::Slot held([&] { ++released; });
    IdentityGovernor::Slot other([&] { released += 10; });
    other = std::move(held);  // `other`'s own place goes now
    EXPECT_EQ(released, 11);
  }
  EXPECT_EQ(released, 12);
  IdentityGovernor::Slot empty;
  EXPECT_FALSE(empty);
  empty.release();
}

}  // namespace
}  // namespace popgate
