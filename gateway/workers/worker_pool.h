// WorkerPool: the process's POP3 event loops as one. The main loop's Pop3Service is the first;
// --workers N adds N-1 Workers on threads of their own, listening on the same ports. The main
// loop keeps the signals, the admin server, the upstream probe, the OAuth2 token manager and
// config reload, and drives the workers from here: reconfigure, drain, shut down, stop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "gateway/io/loop.h"
#include "gateway/io/loop_channel.h"
#include "gateway/session/pop3_service.h"
#include "gateway/workers/worker.h"

namespace popgate {

// --workers' default: the CPUs this process may use (its affinity mask, as
// uv_available_parallelism counts them, or its cgroup's CPU limit if lower), between 1 and 64.
unsigned default_worker_count();

class WorkerPool {
 public:
  // `main_service` is the main loop's and has started listening; `service_shared` is the one every
  // service shares (for the process-wide session count in log lines).
  WorkerPool(io::Loop& main_loop, Pop3Service& main_service, ServiceShared& service_shared);
  // stop(), if not done yet.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts config->workers - 1 workers on the addresses the main service listens on (the real
  // ports when 0 was asked for). The first failure is returned; the workers started are stopped.
  Status start(const std::shared_ptr<const Config>& config, WorkerShared shared);
  size_t loops() const { return workers_.size() + 1; }

  // SIGHUP, after the main service took `config`: the same for every worker; `applied` runs on
  // the main loop once all of them have it (at once without workers).
  void reconfigure(const std::shared_ptr<const Config>& config, std::function<void()> applied);
  // SIGTERM: every loop stops accepting; one drain_started line once all listeners are closed,
  // one drain_finished line and `drained` once no session is left anywhere. A second call does
  // nothing.
  void drain(uint64_t timeout_ms, std::function<void()> drained);
  // Second SIGTERM: every session is shut down without UPDATE (one drain_skipped line).
  void shut_down_sessions();
  // True from drain() on.
  bool draining() const { return draining_; }
  // Stops every worker's loop and joins its thread. Main loop only.
  void stop();

 private:
  void listening_closed(uint64_t sessions);
  void loop_drained(DrainOutcome outcome);

  io::Loop& main_loop_;
  Pop3Service& main_service_;
  ServiceShared& service_shared_;
  std::unique_ptr<io::LoopChannel> inbox_;  // the workers' reports; open while a worker runs
  std::vector<WorkerPtr> workers_;
  bool draining_ = false;
  std::function<void()> drained_;
  uint64_t drain_timeout_ms_ = 0;
  uint64_t drain_started_ms_ = 0;
  size_t awaiting_closed_ = 0;   // loops whose listeners are not known to be closed yet
  size_t awaiting_drained_ = 0;  // loops that still have sessions
  DrainOutcome drain_total_;     // summed over the loops
};

}  // namespace popgate
