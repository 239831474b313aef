// AdmissionControl: session limits, the per-address rate bucket, address keys, the table bound.
#include "gateway/limits/admission_control.h"

#include <gtest/gtest.h>

#include <vector>

#include "gateway/admin/metrics.h"
#include "tests/unit/gateway/prometheus_text.h"

namespace popgate {
namespace {

TEST(ClientAddressKey, Ipv4IsTheAddress) {
  EXPECT_EQ(client_address_key("192.0.2.7"), "192.0.2.7");
}

TEST(ClientAddressKey, Ipv6IsItsSlash64) {
  EXPECT_EQ(client_address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(client_address_key("2001:db8:1:2::1"), client_address_key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(client_address_key("2001:db8:1:2::1"), client_address_key("2001:db8:1:3::1"));
}

TEST(ClientAddressKey, MappedIpv4IsTheIpv4Address) {
  EXPECT_EQ(client_address_key("::ffff:192.0.2.7"), "192.0.2.7");
}

TEST(ClientAddressKey, AnythingElseIsItself) {
  EXPECT_EQ(client_address_key("not an address"), "not an address");
}

TEST(AdmissionControl, TotalLimitRefusesAndReleaseMakesRoom) {
  AdmissionControl control;
  const AdmissionLimits limits{2, 0, 0};
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::None);
  EXPECT_EQ(control.admit("b", 0, limits), Refusal::None);
  EXPECT_EQ(control.admit("c", 0, limits), Refusal::MaxSessions);
  EXPECT_EQ(control.sessions(), 2u);
  control.release("a");
  EXPECT_EQ(control.admit("c", 0, limits), Refusal::None);
}

TEST(AdmissionControl, PerAddressLimitLeavesOtherAddressesAlone) {
  AdmissionControl control;
  const AdmissionLimits limits{0, 2, 0};
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::None);
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::None);
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::MaxSessionsPerAddress);
  EXPECT_EQ(control.admit("b", 0, limits), Refusal::None);
  control.release("a");
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::None);
}

TEST(AdmissionControl, ZeroMeansUnlimited) {
  AdmissionControl control;
  const AdmissionLimits limits{0, 0, 0};
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(control.admit("a", 0, limits), Refusal::None);
  EXPECT_EQ(control.sessions(), 1000u);
}

TEST(AdmissionControl, RateAllowsABurstThenRefillsOverASecond) {
  AdmissionControl control;
  const AdmissionLimits limits{0, 0, 4};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(control.admit("a", 1'000, limits), Refusal::None) << i;
  EXPECT_EQ(control.admit("a", 1'000, limits), Refusal::ConnectionRate);
  EXPECT_EQ(control.admit("b", 1'000, limits), Refusal::None) << "another address has its own bucket";
  EXPECT_EQ(control.admit("a", 1'249, limits), Refusal::ConnectionRate) << "not quite one token yet";
  EXPECT_EQ(control.admit("a", 1'250, limits), Refusal::None) << "4 a second: one every 250 ms";
  EXPECT_EQ(control.admit("a", 1'250, limits), Refusal::ConnectionRate);
  // Long idle: a full burst again, never more.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(control.admit("a", 100'000, limits), Refusal::None) << i;
  EXPECT_EQ(control.admit("a", 100'000, limits), Refusal::ConnectionRate);
}

TEST(AdmissionControl, RefusedAttemptsStillSpendTheRate) {
  AdmissionControl control;
  const AdmissionLimits limits{0, 1, 2};
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::None);
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::MaxSessionsPerAddress);
  control.release("a");
  EXPECT_EQ(control.admit("a", 0, limits), Refusal::ConnectionRate) << "two attempts spent the burst of 2";
}

TEST(AdmissionControl, AddressesWithoutSessionsAreForgotten) {
  AdmissionControl control;
  EXPECT_EQ(control.admit("a", 0, {0, 0, 0}), Refusal::None);
  control.release("a");
  EXPECT_EQ(control.tracked_addresses(), 0u);
}

TEST(AdmissionControl, TableIsBoundedUnderAFloodOfAddresses) {
  AdmissionControl control(/*max_tracked_addresses=*/16);
  const AdmissionLimits limits{0, 0, 1};
  // Each address connects once, spending its bucket, then goes away.
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "10.0.0." + std::to_string(i);
    ASSERT_EQ(control.admit(key, static_cast<uint64_t>(i), limits), Refusal::None) << i;
    control.release(key);
  }
  EXPECT_LE(control.tracked_addresses(), 16u);
}

TEST(AdmissionControl, FullTableOfLiveAddressesRefusesNewcomers) {
  AdmissionControl control(/*max_tracked_addresses=*/4);
  const AdmissionLimits limits{0, 0, 0};
  for (int i = 0; i < 4; ++i) ASSERT_EQ(control.admit("a" + std::to_string(i), 0, limits), Refusal::None);
  EXPECT_EQ(control.admit("new", 0, limits), Refusal::MaxSessions);
  EXPECT_EQ(control.admit("a0", 0, limits), Refusal::None) << "a known address is still served";
  control.release("a1");
  EXPECT_EQ(control.admit("new", 0, limits), Refusal::None);
}

TEST(AdmittedSession, ReleasesOnceWhenDestroyedEvenAfterAMove) {
  AdmissionControl control;
  ASSERT_EQ(control.admit("a", 0, {0, 0, 0}), Refusal::None);
  {
    AdmittedSession first(control, "a");
    std::vector<AdmittedSession> held;
    held.push_back(std::move(first));
    EXPECT_EQ(control.sessions(), 1u);
  }
  EXPECT_EQ(control.sessions(), 0u);
}

TEST(AdmissionMetrics, RefusalsAreCountedByReasonFromZero) {
  Metrics metrics;
  metrics.connection_rejected(Refusal::MaxSessionsPerAddress);
  metrics.connection_rejected(Refusal::MaxSessionsPerAddress);
  metrics.connection_rejected(Refusal::ConnectionRate);
  metrics.connection_rejected(Refusal::None);  // not a refusal: nothing counted
  const auto text = testing::parse_prometheus_text(metrics.serialize());
  EXPECT_EQ(text.count("popgate_connections_rejected_total", {{"reason", "max_sessions"}}), 0);
  EXPECT_EQ(text.count("popgate_connections_rejected_total", {{"reason", "max_sessions_per_ip"}}), 2);
  EXPECT_EQ(text.count("popgate_connections_rejected_total", {{"reason", "connection_rate"}}), 1);
  EXPECT_EQ(text.samples_of("popgate_connections_rejected_total"), 3u);
}

TEST(LogThrottle, OneLineASecondThenCountsTheRest) {
  LogThrottle throttle;
  uint64_t suppressed = 99;
  EXPECT_TRUE(throttle.allow(5'000, suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(throttle.allow(5'100, suppressed));
  EXPECT_FALSE(throttle.allow(5'999, suppressed));
  EXPECT_TRUE(throttle.allow(6'000, suppressed));
  EXPECT_EQ(suppressed, 2u);
}

}  // namespace
}  // namespace popgate
