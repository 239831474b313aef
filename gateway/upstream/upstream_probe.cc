// UpstreamProbe: connect, remember the outcome, close, wait an interval, again.
#include "gateway/upstream/upstream_probe.h"

#include "gateway/log.h"

namespace popgate {

UpstreamProbe::UpstreamProbe(io::Loop& loop, Options options)
    : loop_(loop), options_(std::move(options)), timer_(loop) {}

UpstreamProbe::~UpstreamProbe() = default;  // in_flight_ and timer_ go first: no callback after this

void UpstreamProbe::start() {
  if (!in_flight_ && !timer_.active()) probe();
}

void UpstreamProbe::stop() {
  in_flight_.reset();
  timer_.stop();
}

void UpstreamProbe::probe() {
  target_ = options_.target();
  in_flight_ = io::connect_tcp(loop_, target_.host, target_.port, options_.timeout_ms,
                               [this](Result<io::TransportPtr> result) { on_probed(std::move(result)); });
}

void UpstreamProbe::on_probed(Result<io::TransportPtr> result) {
  // The connection, if any, closes as `result` goes out of scope. connect_tcp allows the
  // operation to be destroyed inside its own callback.
  in_flight_.reset();
  const bool reachable = result.ok();
  const bool first = probes_finished_++ == 0;
  if (first || reachable != reachable_) {
    log::Line line(reachable ? log::Level::Info : log::Level::Warn, "upstream_probe");
    line.field("upstream", target_.host + ":" + std::to_string(target_.port)).field("reachable", reachable);
    if (!reachable) line.field("reason", result.error().detail);
  }
  reachable_ = reachable;
  timer_.start(options_.interval_ms, [this] { probe(); });
}

}  // namespace popgate
