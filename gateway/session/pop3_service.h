// Pop3Service: the POP3 listeners of one loop and the sessions they accepted. With --workers N
// every worker loop has one; their listeners share the port through SO_REUSEPORT, and the abuse
// limits (ServiceShared) are one instance for all of them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "gateway/io/liveness.h"
#include "gateway/io/tcp_listener.h"
#include "gateway/io/timer.h"
#include "gateway/limits/admission_control.h"
#include "gateway/limits/auth_throttle.h"
#include "gateway/session/pop3_session.h"

namespace popgate {

// What the Pop3Services of every worker loop share, one per process (each part thread-safe):
// per-address, per-user and per-identity counts must not multiply with the workers, and a session
// number names one session in the log.
struct ServiceShared {
  AdmissionControl admission;
  AuthThrottle auth_throttle;
  UpstreamGovernor upstream_governor;
  std::atomic<uint64_t> next_session_id{1};
};

// What a drain ended with: the sessions live when it started, and how many of those were shut
// down (by the timeout or a second signal) rather than finishing on their own.
struct DrainOutcome {
  uint64_t sessions = 0;
  uint64_t shut_down = 0;
};

class Pop3Service {
 public:
  // Until reconfigured with a router, every login goes to `mailboxes`. `metrics` outlives the
  // service, every session and the loop; so does `shared` (the process's, shared with the other
  // workers' services; null: the service's own).
  Pop3Service(io::Loop& loop, std::shared_ptr<const Config> config, MailboxFactory& mailboxes,
              MaildropLockTable& locks, SharedLimits shared_limits, const TlsCertificates* certificates,
              Metrics& metrics, ServiceShared* shared = nullptr);
  ~Pop3Service();
  Pop3Service(const Pop3Service&) = delete;
  Pop3Service& operator=(const Pop3Service&) = delete;

  // Binds every configured listener (with SO_REUSEPORT when config->workers > 1); the first
  // failure is returned and nothing listens.
  Status start();
  // Stops accepting and closes every session without UPDATE (during a drain: skips the wait).
  void stop();
  // SIGTERM: stops accepting and marks the service draining; sessions finish on their own for up
  // to `timeout_ms`, then the rest are shut down without UPDATE. `drained` runs once no session is
  // left (on a later tick). Returns the sessions live now. A second call does nothing (returns 0).
  // Logs nothing: the caller speaks for every worker at once (gateway/workers/worker_pool.h).
  uint64_t drain(uint64_t timeout_ms, std::function<void(DrainOutcome)> drained);
  // SIGHUP: sessions accepted from now on get `config` and `mailboxes`; live sessions keep the
  // config and the factory they were accepted with (kept alive until the last of them is gone).
  void reconfigure(std::shared_ptr<const Config> config, std::shared_ptr<MailboxFactory> mailboxes);
  // The same with routing rules and local accounts: new sessions resolve logins with `router`.
  void reconfigure(std::shared_ptr<const Config> config, std::shared_ptr<LoginRouter> router);
  // The configuration new sessions get.
  const std::shared_ptr<const Config>& config() const { return current_->context.config; }

  size_t active_sessions() const { return sessions_.size(); }
  // True from the first SIGTERM/SIGINT on: listeners are closed and /readyz answers 503.
  bool draining() const { return draining_; }
  std::vector<io::SocketAddress> listening_addresses() const;

 private:
  // What the sessions accepted under one configuration share.
  struct Generation {
    std::shared_ptr<MailboxFactory> owned_mailboxes;  // null for the constructor's factory
    SessionContext context;
    std::shared_ptr<LoginRouter> router;  // what context.router refers to
  };
  struct Entry {
    std::shared_ptr<Generation> generation;  // declared first: outlives the session
    AdmittedSession admitted;                // its place under the session limits
    std::unique_ptr<Pop3Session> session;
  };

  Status listen(const io::HostPort& host_port, bool implicit_tls);
  void accept(io::TransportPtr client, bool implicit_tls);
  // Over an abuse limit: one -ERR line (none on implicit TLS) and the connection is closed.
  void refuse(io::TransportPtr client, bool implicit_tls, Refusal refusal);
  std::function<void(uint64_t)> session_finished_callback();
  void shut_down_sessions();
  void finish_drain();

  io::Loop& loop_;
  std::shared_ptr<Generation> current_;
  std::vector<std::unique_ptr<io::TcpListener>> listeners_;
  // Shared by every generation, declared before sessions_ so they outlive every session.
  std::unique_ptr<ServiceShared> own_shared_;  // null when the process's were given
  ServiceShared& shared_;
  LogThrottle refusal_log_;
  std::unordered_map<uint64_t, Entry> sessions_;
  bool draining_ = false;
  io::Timer drain_timer_;
  std::function<void(DrainOutcome)> drained_;  // reset once called
  uint64_t drain_sessions_ = 0;                // live when the drain started
  uint64_t drain_shut_down_ = 0;               // of those, shut down by the timeout or a second signal
  io::Liveness alive_;
};

}  // namespace popgate
