// UpstreamProbe: is the upstream reachable? One TCP connect to its host and port per interval.
//
// It remembers the result of the last finished probe, for /readyz. The next probe is
// scheduled only when the last one has finished, so two never overlap however slow the
// network is. A probe only connects and closes: it never logs in.
#pragma once

#include <cstdint>
#include <functional>

#include "gateway/io/loop.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/tcp_connector.h"
#include "gateway/io/timer.h"

namespace popgate {

class UpstreamProbe {
 public:
  struct Options {
    // Asked before each probe, so a reloaded configuration's upstream is the one probed.
    std::function<io::HostPort()> target;
    uint64_t interval_ms = 10'000;  // from the end of one probe to the start of the next
    uint64_t timeout_ms = 5'000;    // a connect slower than this counts as unreachable
  };

  UpstreamProbe(io::Loop& loop, Options options);
  ~UpstreamProbe();
  UpstreamProbe(const UpstreamProbe&) = delete;
  UpstreamProbe& operator=(const UpstreamProbe&) = delete;

  // Probes now, then every interval, until stop() or destruction.
  void start();
  // Cancels the probe in flight and the next one; reachable() keeps the last result.
  void stop();
  // The last finished probe connected. False until the first one has finished.
  bool reachable() const { return reachable_; }
  uint64_t probes_finished() const { return probes_finished_; }

 private:
  void probe();
  void on_probed(Result<io::TransportPtr> result);

  io::Loop& loop_;
  const Options options_;
  io::Timer timer_;
  io::ConnectOperationPtr in_flight_;  // destroying it cancels the probe
  io::HostPort target_;                // of the probe in flight, or the last one
  bool reachable_ = false;
  uint64_t probes_finished_ = 0;
};

}  // namespace popgate
