// Worker: one more event loop on a thread of its own, serving POP3 like the main loop does: its
// own listeners on the same port (SO_REUSEPORT), login router, mailbox factories and sessions.
// What the process shares (maildrop locks, abuse limits, metrics, certificates, the OAuth2 token
// manager) is given to it. The main loop talks to it only through its LoopChannel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "gateway/admin/metrics.h"
#include "gateway/config/config.h"
#include "gateway/config/tls_certificates.h"
#include "gateway/identity/credential_source.h"
#include "gateway/identity/login_router.h"
#include "gateway/io/loop.h"
#include "gateway/io/loop_channel.h"
#include "gateway/limits/maildrop_lock.h"
#include "gateway/session/pop3_service.h"
#include "gateway/state/state_store.h"
#include "protocol/common/result.h"

namespace popgate {

// What every worker shares with the main loop; all of it outlives the workers.
struct WorkerShared {
  StateStore* state = nullptr;  // each worker's loop gets its own view of it
  ServiceShared* service = nullptr;
  const TlsCertificates* certificates = nullptr;
  Metrics* metrics = nullptr;
  // The OAuth2 clients, resolved on the main loop (null: none configured).
  OAuth2ClientResolver oauth2_clients;
  io::LoopChannel::Sender main;  // to the main loop
};

class Worker;
using WorkerPtr = std::unique_ptr<Worker>;

class Worker {
 public:
  // Main thread, before the main loop runs or on it. Builds the worker's loop, login router and
  // service, binds its listeners (`config`'s addresses: the ports the main loop got), then starts
  // the thread. An Error (a route's CA file, a bind) starts nothing.
  static Result<WorkerPtr> start(unsigned index, std::shared_ptr<const Config> config,
                                 const WorkerShared& shared);
  // stop(), if not done yet.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index() const { return index_; }

  // The rest are called on the main loop and do their work on the worker's.
  // SIGHUP: new sessions get `config` and a router built from it on the worker's loop (the
  // accounts file read there); a broken one keeps the old and logs why. `applied` runs on the
  // main loop afterwards, either way.
  void reconfigure(std::shared_ptr<const Config> config, std::function<void()> applied);
  // SIGTERM: `listening_closed(sessions)` once the worker's listeners are closed, with its live
  // sessions; `drained(outcome)` once none is left. Both run on the main loop.
  void drain(uint64_t timeout_ms, std::function<void(uint64_t sessions)> listening_closed,
             std::function<void(DrainOutcome)> drained);
  // Second SIGTERM: shuts the worker's sessions down without UPDATE.
  void shut_down_sessions();
  // Stops the worker's loop and waits for its thread; the service and its sessions go with it.
  void stop();

 private:
  Worker(unsigned index, const WorkerShared& shared);
  void run();

  const unsigned index_;
  WorkerShared shared_;
  std::unique_ptr<io::Loop> loop_;          // destroyed on the worker's thread, last
  std::unique_ptr<io::LoopChannel> inbox_;  // keeps the loop running until stop()
  OAuth2ClientResolver oauth2_clients_;     // shared_.oauth2_clients, answering on this loop
  std::shared_ptr<LoginRouter> router_;     // the first; the service holds the current one
  LoopStateStorePtr state_;                 // this loop's connection to the state store
  std::unique_ptr<Pop3Service> service_;
  std::thread thread_;
};

}  // namespace popgate
