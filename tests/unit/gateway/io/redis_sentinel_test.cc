// SentinelResolver and SentinelWatch against scripted sentinels in the test's loop: the order the
// sentinels are asked in, the reasons when none names the master, timeouts, cancelling; the
// +switch-master subscription, and its reopening after the sentinel went away.
#include "gateway/io/redis_sentinel.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/unit/gateway/io/fake_sentinel.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::io {
namespace {

using popgate::testing::FakeSentinel;
using testing::run_for;
using testing::run_until;

// A port on 127.0.0.1 where nothing listens (it did a moment ago).
HostPort closed_port(Loop& loop) {
  auto listener = testing::listen_on(loop, testing::loopback_address(), [](TransportPtr) {});
  return {"127.0.0.1", listener->local_address().port()};
}

class SentinelResolverTest : public ::testing::Test {
 protected:
  std::string resolve(SentinelResolver& resolver) {
    std::optional<Result<HostPort>> result;
    resolver.resolve([&](Result<HostPort> r) { result = std::move(r); });
    EXPECT_TRUE(run_until(loop_, [&] { return result.has_value(); }));
    if (!result) return "no answer";
    return result->ok() ? to_string(result->value()) : "error: " + result->error().detail;
  }

  Loop loop_;
};

TEST_F(SentinelResolverTest, AsksInOrderAndTheOneThatAnsweredFirstNextTime) {
  FakeSentinel unknown(loop_);
  FakeSentinel knows(loop_);
  knows.master = HostPort{"127.0.0.1", 6380};
  const HostPort dead = closed_port(loop_);
  SentinelResolver resolver(loop_, {dead, unknown.address(), knows.address()}, "popgate", 2'000);
  EXPECT_EQ(resolve(resolver), "127.0.0.1:6380");
  EXPECT_EQ(unknown.queries, 1);
  EXPECT_EQ(knows.queries, 1);
  EXPECT_EQ(resolve(resolver), "127.0.0.1:6380");
  EXPECT_EQ(unknown.queries, 1) << "the sentinel that answered was asked first";
  EXPECT_EQ(knows.queries, 2);
}

TEST_F(SentinelResolverTest, ASentinelThatDoesNotKnowTheNameSaysSo) {
  FakeSentinel sentinel(loop_);
  SentinelResolver resolver(loop_, {sentinel.address()}, "popgate", 2'000);
  EXPECT_EQ(resolve(resolver),
            "error: sentinel " + to_string(sentinel.address()) + " does not know master 'popgate'");
}

TEST_F(SentinelResolverTest, NoSentinelReachableIsTold) {
  const HostPort first = closed_port(loop_);
  const HostPort second = closed_port(loop_);
  SentinelResolver resolver(loop_, {first, second}, "popgate", 2'000);
  EXPECT_EQ(resolve(resolver), "error: no sentinel answered: connect " + to_string(first) +
                                   ": connection refused; connect " + to_string(second) +
                                   ": connection refused");
}

TEST_F(SentinelResolverTest, AnErrorReplyIsTheSentinelsAnswer) {
  FakeSentinel sentinel(loop_);
  sentinel.error = "NOAUTH Authentication required.";
  SentinelResolver resolver(loop_, {sentinel.address()}, "popgate", 2'000);
  EXPECT_EQ(resolve(resolver), "error: sentinel " + to_string(sentinel.address()) +
                                   " answered: NOAUTH Authentication required.");
}

TEST_F(SentinelResolverTest, ASilentSentinelCostsItsTimeoutThenTheNextIsAsked) {
  FakeSentinel silent(loop_);
  silent.silent = true;
  FakeSentinel knows(loop_);
  knows.master = HostPort{"127.0.0.1", 6380};
  SentinelResolver resolver(loop_, {silent.address(), knows.address()}, "popgate", 200);
  const uint64_t began = loop_.now_ms();
  EXPECT_EQ(resolve(resolver), "127.0.0.1:6380");
  EXPECT_GE(loop_.now_ms() - began, 190u);
  EXPECT_LT(loop_.now_ms() - began, 2'000u);
}

TEST_F(SentinelResolverTest, CancelledOrDestroyedNoCallbackRuns) {
  FakeSentinel sentinel(loop_);
  sentinel.master = HostPort{"127.0.0.1", 6380};
  bool called = false;
  SentinelResolver resolver(loop_, {sentinel.address()}, "popgate", 2'000);
  resolver.resolve([&](Result<HostPort>) { called = true; });
  resolver.cancel();
  {
    SentinelResolver destroyed(loop_, {sentinel.address()}, "popgate", 2'000);
    destroyed.resolve([&](Result<HostPort>) { called = true; });
  }
  run_for(loop_, 200);
  EXPECT_FALSE(called);
  EXPECT_EQ(resolve(resolver), "127.0.0.1:6380") << "and it resolves again afterwards";
}

// ---------------------------------------------------------------- SentinelWatch

class SentinelWatchTest : public ::testing::Test {
 protected:
  std::unique_ptr<SentinelWatch> watch(std::vector<HostPort> sentinels, uint64_t ping_interval_ms = 5'000) {
    return std::make_unique<SentinelWatch>(
        loop_, std::move(sentinels), "popgate",
        SentinelWatch::Options{.timeout_ms = 200,
                               .backoff_min_ms = 50,
                               .backoff_max_ms = 200,
                               .ping_interval_ms = ping_interval_ms},
        [this](const HostPort& master) { switches_.push_back(to_string(master)); });
  }

  Loop loop_;
  std::vector<std::string> switches_;
};

TEST_F(SentinelWatchTest, HearsOfOurMastersSwitchOnly) {
  FakeSentinel sentinel(loop_);
  sentinel.master = HostPort{"127.0.0.1", 6379};
  auto watching = watch({sentinel.address()});
  ASSERT_TRUE(run_until(loop_, [&] { return watching->subscribed(); }));
  sentinel.switch_master("other", {"127.0.0.1", 7000});
  sentinel.switch_master("popgate", {"127.0.0.1", 6380});
  ASSERT_TRUE(run_until(loop_, [&] { return !switches_.empty(); }));
  run_for(loop_, 50);
  EXPECT_EQ(switches_, std::vector<std::string>{"127.0.0.1:6380"});
}

TEST_F(SentinelWatchTest, SubscribesAgainOnTheNextSentinelWhenOneGoes) {
  const HostPort dead = closed_port(loop_);
  FakeSentinel first(loop_);
  FakeSentinel second(loop_);
  auto watching = watch({dead, first.address(), second.address()});
  ASSERT_TRUE(run_until(loop_, [&] { return first.subscribed() == 1; })) << "past the one that is down";
  first.drop_connections();
  ASSERT_TRUE(run_until(loop_, [&] { return second.subscribed() == 1; }));
  EXPECT_EQ(first.subscribed(), 0);
  second.switch_master("popgate", {"127.0.0.1", 6381});
  ASSERT_TRUE(run_until(loop_, [&] { return !switches_.empty(); }));
  EXPECT_EQ(switches_, std::vector<std::string>{"127.0.0.1:6381"});
}

TEST_F(SentinelWatchTest, ARefusedSubscriptionIsTriedAgainLater) {
  FakeSentinel sentinel(loop_);
  sentinel.error = "NOAUTH Authentication required.";
  auto watching = watch({sentinel.address()});
  run_for(loop_, 300);
  EXPECT_FALSE(watching->subscribed());
  sentinel.error.clear();
  ASSERT_TRUE(run_until(
      loop_, [&] { return watching->subscribed(); }, 2'000))
      << "within the backoff's cap";
}

TEST_F(SentinelWatchTest, PongsKeepTheSubscriptionAndASentinelGoneSilentIsLeft) {
  FakeSentinel first(loop_);
  FakeSentinel second(loop_);
  auto watching = watch({first.address(), second.address()}, 50);
  ASSERT_TRUE(run_until(loop_, [&] { return first.subscribed() == 1; }));
  run_for(loop_, 500);
  EXPECT_GE(first.pings, 5) << "pinged every 50 ms";
  EXPECT_EQ(second.subscribed(), 0) << "answered pongs keep it where it is";
  // The host is gone without closing anything: only the unanswered PING can tell.
  first.silent = true;
  ASSERT_TRUE(run_until(
      loop_, [&] { return second.subscribed() == 1; }, 2'000));
  second.switch_master("popgate", {"127.0.0.1", 6390});
  ASSERT_TRUE(run_until(loop_, [&] { return !switches_.empty(); }));
  EXPECT_EQ(switches_, std::vector<std::string>{"127.0.0.1:6390"});
}

}  // namespace
}  // namespace popgate::io
