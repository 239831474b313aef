// UpstreamProbe against a listener on 127.0.0.1: reachable, unreachable, never two probes at once.
#include "gateway/upstream/upstream_probe.h"

#include <gtest/gtest.h>

#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate {
namespace {

using io::testing::run_until;

class UpstreamProbeTest : public ::testing::Test {
 protected:
  void listen() {
    listener_ =
        io::testing::listen_on(loop_, io::testing::loopback_address(), [this](io::TransportPtr accepted) {
          ++accepted_;
          accepted_transports_.push_back(std::move(accepted));
        });
    ASSERT_NE(listener_, nullptr);
    port_ = listener_->local_address().port();
  }

  UpstreamProbe::Options options(uint64_t interval_ms) {
    return {[this] {
              // Asked once per probe: every probe before this one must have finished.
              if (probe_ != nullptr && targets_asked_ != probe_->probes_finished()) overlapped_ = true;
              ++targets_asked_;
              return io::HostPort{"127.0.0.1", port_};
            },
            interval_ms, 1'000};
  }

  io::Loop loop_;
  std::unique_ptr<io::TcpListener> listener_;
  std::vector<io::TransportPtr> accepted_transports_;
  uint16_t port_ = 0;
  int accepted_ = 0;
  uint64_t targets_asked_ = 0;
  const UpstreamProbe* probe_ = nullptr;
  bool overlapped_ = false;
};

TEST_F(UpstreamProbeTest, ReachableWhileTheUpstreamListensAndNotAfter) {
  listen();
  UpstreamProbe probe(loop_, options(10));
  EXPECT_FALSE(probe.reachable());  // nothing known before the first probe
  probe.start();
  ASSERT_TRUE(run_until(loop_, [&] { return probe.probes_finished() >= 1; }));
  EXPECT_TRUE(probe.reachable());
  ASSERT_TRUE(run_until(loop_, [&] { return accepted_ >= 1; }));

  listener_.reset();  // the upstream goes away: connections are refused
  const uint64_t before = probe.probes_finished();
  ASSERT_TRUE(run_until(loop_, [&] { return probe.probes_finished() > before + 1; }));
  EXPECT_FALSE(probe.reachable());

  listen();  // back (on another port; the target follows it)
  ASSERT_TRUE(run_until(loop_, [&] { return probe.reachable(); }));
}

TEST_F(UpstreamProbeTest, AProbeInFlightNeverOverlapsTheNext) {
  listen();
  UpstreamProbe probe(loop_, options(0));  // as fast as it can go
  probe_ = &probe;
  probe.start();
  probe.start();  // a second start does not start a second chain
  ASSERT_TRUE(run_until(loop_, [&] { return probe.probes_finished() >= 50 || overlapped_; }));
  EXPECT_FALSE(overlapped_);
  EXPECT_TRUE(probe.reachable());
}

TEST_F(UpstreamProbeTest, StopCancelsTheNextProbes) {
  listen();
  UpstreamProbe probe(loop_, options(5));
  probe.start();
  ASSERT_TRUE(run_until(loop_, [&] { return probe.probes_finished() >= 2; }));
  probe.stop();
  const uint64_t asked = targets_asked_;
  io::testing::run_for(loop_, 50);
  EXPECT_EQ(targets_asked_, asked);
  EXPECT_TRUE(probe.reachable());  // the last result is kept
}

}  // namespace
}  // namespace popgate
