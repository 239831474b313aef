// Worker: a loop thread with its own Pop3Service, driven by messages from the main loop.
#include "gateway/workers/worker.h"

#include <pthread.h>

#include <string>
#include <utility>

#include "gateway/log.h"
#include "gateway/workers/worker_credential_source.h"

namespace popgate {

Worker::Worker(unsigned index, const WorkerShared& shared)
    : index_(index),
      shared_(shared),
      loop_(std::make_unique<io::Loop>()),
      inbox_(std::make_unique<io::LoopChannel>(*loop_)),
      oauth2_clients_(resolve_on_home_loop(shared.oauth2_clients, shared.main, inbox_->sender())) {}

Result<WorkerPtr> Worker::start(unsigned index, std::shared_ptr<const Config> config,
                                const WorkerShared& shared) {
  WorkerPtr worker(new Worker(index, shared));
  // Nothing runs the worker's loop yet: building on it from this thread is safe, and the thread's
  // start below publishes all of it to the thread.
  auto router = make_login_router(*worker->loop_, *config, worker->oauth2_clients_);
  if (!router) return router.error();
  worker->router_ = std::move(router).value();
  worker->state_ = shared.state->for_loop(*worker->loop_);
  worker->service_ = std::make_unique<Pop3Service>(
      *worker->loop_, config, worker->router_->default_mailboxes(), worker->state_->maildrop_locks(),
      SharedLimits{worker->state_->login_failures(), worker->state_->identity_governor()},
      shared.certificates, *shared.metrics, shared.service);
  worker->service_->reconfigure(config, worker->router_);
  {
    // Its "listening" lines name the worker.
    log::set_thread_worker(static_cast<int>(index));
    Status listening = worker->service_->start();
    log::set_thread_worker(0);
    if (!listening) return listening.error();
  }
  // The thread inherits the caller's signal mask: SIGTERM, SIGINT and SIGHUP stay blocked there
  // (main blocks them until its watchers run), so only the main loop ever takes them.
  worker->thread_ = std::thread([raw = worker.get()] { raw->run(); });
  return worker;
}

Worker::~Worker() {
  stop();
}

void Worker::run() {
  log::set_thread_worker(static_cast<int>(index_));
  const std::string name = "popgate-w" + std::to_string(index_);
  pthread_setname_np(pthread_self(), name.c_str());
  loop_->run();
  // Teardown on this thread, in the order main.cc uses: sessions, factories, then the loop.
  service_.reset();
  router_.reset();
  state_.reset();
  inbox_->close();
  loop_.reset();
}

void Worker::reconfigure(std::shared_ptr<const Config> config, std::function<void()> applied) {
  inbox_->post([this, config = std::move(config), applied = std::move(applied)] {
    // The main loop checked this configuration a moment ago; only a file changed since can fail.
    auto router = make_login_router(*loop_, *config, oauth2_clients_);
    if (router) {
      service_->reconfigure(config, std::move(router).value());
    } else {
      log::Line(log::Level::Error, "config_reload_failed")
          .field("reason", router.error().detail)
          .field("message", "this worker keeps the configuration in use");
    }
    shared_.main.post(applied);
  });
}

void Worker::drain(uint64_t timeout_ms, std::function<void(uint64_t sessions)> listening_closed,
                   std::function<void(DrainOutcome)> drained) {
  inbox_->post([this, timeout_ms, listening_closed = std::move(listening_closed),
                drained = std::move(drained)]() mutable {
    const io::LoopChannel::Sender main = shared_.main;
    const uint64_t sessions = service_->drain(timeout_ms, [main, drained](DrainOutcome outcome) {
      main.post([drained, outcome] { drained(outcome); });
    });
    // Posted before `drained` can be (that one runs on a later tick of this loop).
    main.post([listening_closed = std::move(listening_closed), sessions] { listening_closed(sessions); });
  });
}

void Worker::shut_down_sessions() {
  inbox_->post([this] { service_->stop(); });
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  // The inbox is closed by the message itself: after it nothing keeps the loop, and nothing else
  // is posted (a late drained report goes to the main loop's channel, not here).
  inbox_->post([this] {
    inbox_->close();
    loop_->stop();
  });
  thread_.join();
}

}  // namespace popgate
