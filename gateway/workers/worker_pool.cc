// WorkerPool: starts the worker loops and turns their reports into the process's drain.
#include "gateway/workers/worker_pool.h"

#include <uv.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>
#include <utility>

#include "gateway/log.h"

namespace popgate {

namespace {

// The cgroup v2 CPU limit ("200000 100000" in cpu.max: two CPUs' worth), rounded up; 0 when
// there is none ("max ...") or no such file. A container's `limits.cpu` lands here, and the
// affinity mask does not show it: without this, a pod limited to 2 CPUs on a 64-core node would
// start 64 loops fighting over 2 CPUs' worth of time. Read once at start, before any loop runs.
unsigned cgroup_cpu_limit() {
  std::ifstream file("/sys/fs/cgroup/cpu.max");
  std::string quota;
  uint64_t period = 0;
  if (!(file >> quota >> period) || quota == "max" || period == 0) return 0;
  uint64_t microseconds = 0;
  auto [end, error] = std::from_chars(quota.data(), quota.data() + quota.size(), microseconds);
  if (error != std::errc() || end != quota.data() + quota.size()) return 0;
  return static_cast<unsigned>(std::min<uint64_t>((microseconds + period - 1) / period, 1024));
}

}  // namespace

unsigned default_worker_count() {
  unsigned cpus = uv_available_parallelism();  // the affinity mask (sched_getaffinity)
  if (unsigned limit = cgroup_cpu_limit(); limit > 0) cpus = std::min(cpus, limit);
  return std::clamp(cpus, 1u, 64u);
}

WorkerPool::WorkerPool(io::Loop& main_loop, Pop3Service& main_service, ServiceShared& service_shared)
    : main_loop_(main_loop), main_service_(main_service), service_shared_(service_shared) {}

WorkerPool::~WorkerPool() {
  stop();
}

Status WorkerPool::start(const std::shared_ptr<const Config>& config, WorkerShared shared) {
  if (config->workers <= 1) return Ok{};
  inbox_ = std::make_unique<io::LoopChannel>(main_loop_);
  shared.main = inbox_->sender();
  // The workers bind what the main service got: with port 0 every loop would get a port of its own.
  Config bound = *config;
  bound.listen.clear();
  bound.listen_tls.clear();
  const std::vector<io::SocketAddress> addresses = main_service_.listening_addresses();
  for (size_t i = 0; i < addresses.size(); ++i) {
    io::HostPort host_port{addresses[i].host(), addresses[i].port()};
    (i < config->listen.size() ? bound.listen : bound.listen_tls).push_back(std::move(host_port));
  }
  auto worker_config = std::make_shared<const Config>(std::move(bound));
  for (unsigned index = 1; index < config->workers; ++index) {
    auto started = Worker::start(index, worker_config, shared);
    if (!started) {
      stop();
      return started.error();
    }
    workers_.push_back(std::move(started).value());
  }
  return Ok{};
}

void WorkerPool::reconfigure(const std::shared_ptr<const Config>& config, std::function<void()> applied) {
  if (workers_.empty()) return applied();
  // Counted here, on the main loop, where every worker's report arrives.
  auto remaining = std::make_shared<size_t>(workers_.size());
  auto shared_applied = std::make_shared<std::function<void()>>(std::move(applied));
  for (auto& worker : workers_) {
    worker->reconfigure(config, [remaining, shared_applied] {
      if (--*remaining == 0) (*shared_applied)();
    });
  }
}

void WorkerPool::drain(uint64_t timeout_ms, std::function<void()> drained) {
  if (draining_) return;
  draining_ = true;
  drained_ = std::move(drained);
  drain_timeout_ms_ = timeout_ms;
  drain_started_ms_ = main_loop_.now_ms();
  awaiting_closed_ = loops();
  awaiting_drained_ = loops();
  for (auto& worker : workers_) {
    worker->drain(
        timeout_ms, [this](uint64_t sessions) { listening_closed(sessions); },
        [this](DrainOutcome outcome) { loop_drained(outcome); });
  }
  // Its `drained` comes on a later tick, after the line below.
  listening_closed(main_service_.drain(timeout_ms, [this](DrainOutcome outcome) { loop_drained(outcome); }));
}

void WorkerPool::listening_closed(uint64_t sessions) {
  drain_total_.sessions += sessions;
  if (--awaiting_closed_ > 0) return;
  // Every listener is closed now: a client that reads this line cannot connect any more.
  log::Line(log::Level::Info, "drain_started")
      .field("sessions", drain_total_.sessions)
      .field("timeout_s", static_cast<double>(drain_timeout_ms_) / 1000.0);
}

void WorkerPool::loop_drained(DrainOutcome outcome) {
  drain_total_.shut_down += outcome.shut_down;
  if (--awaiting_drained_ > 0) return;
  const uint64_t shut_down = std::min(drain_total_.shut_down, drain_total_.sessions);
  log::Line(log::Level::Info, "drain_finished")
      .field("sessions", drain_total_.sessions)
      .field("finished", drain_total_.sessions - shut_down)
      .field("shut_down", shut_down)
      .field("duration_s", static_cast<double>(main_loop_.now_ms() - drain_started_ms_) / 1000.0);
  auto drained = std::move(drained_);
  drained_ = nullptr;
  if (drained) drained();
}

void WorkerPool::shut_down_sessions() {
  log::Line(log::Level::Info, "drain_skipped").field("sessions", service_shared_.admission.sessions());
  main_service_.stop();
  for (auto& worker : workers_) worker->shut_down_sessions();
}

void WorkerPool::stop() {
  for (auto& worker : workers_) worker->stop();
  workers_.clear();
  if (inbox_) inbox_->close();
}

}  // namespace popgate
