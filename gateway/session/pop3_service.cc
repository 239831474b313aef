// Pop3Service: accepts POP3 connections and owns their sessions until they finish.
#include "gateway/session/pop3_service.h"

#include <algorithm>

#include "gateway/log.h"

namespace popgate {

Pop3Service::Pop3Service(io::Loop& loop, std::shared_ptr<const Config> config, MailboxFactory& mailboxes,
                         MaildropLockTable& locks, SharedLimits shared_limits,
                         const TlsCertificates* certificates, Metrics& metrics, ServiceShared* shared)
    : loop_(loop),
      own_shared_(shared == nullptr ? std::make_unique<ServiceShared>() : nullptr),
      shared_(shared == nullptr ? *own_shared_ : *shared),
      drain_timer_(loop) {
  LoginRouterPtr router = make_passthrough_router(loop, mailboxes);
  LoginRouter& routing = *router;
  current_ = std::make_shared<Generation>(Generation{
      nullptr,
      SessionContext{loop, std::move(config), routing, locks, certificates, session_finished_callback(),
                     metrics, shared_.auth_throttle, shared_.upstream_governor, shared_limits},
      std::move(router)});
}

Pop3Service::~Pop3Service() {
  alive_.revoke();
}

std::function<void(uint64_t)> Pop3Service::session_finished_callback() {
  return [this](uint64_t id) {
    // The session may be deep in its own call stack: destroy it on the next tick.
    loop_.defer([this, alive = alive_.watch(), id] {
      if (!alive) return;
      sessions_.erase(id);
      if (draining_ && sessions_.empty()) finish_drain();
    });
  };
}

void Pop3Service::reconfigure(std::shared_ptr<const Config> config,
                              std::shared_ptr<MailboxFactory> mailboxes) {
  const SessionContext& now = current_->context;
  LoginRouterPtr router = make_passthrough_router(loop_, *mailboxes);
  LoginRouter& routing = *router;
  // The old generation lives on in the entries of the sessions accepted under it.
  current_ = std::make_shared<Generation>(
      Generation{std::move(mailboxes),
                 SessionContext{loop_, std::move(config), routing, now.locks, now.certificates,
                                session_finished_callback(), now.metrics, shared_.auth_throttle,
                                shared_.upstream_governor, now.shared},
                 std::move(router)});
}

void Pop3Service::reconfigure(std::shared_ptr<const Config> config, std::shared_ptr<LoginRouter> router) {
  const SessionContext& now = current_->context;
  LoginRouter& routing = *router;
  current_ = std::make_shared<Generation>(
      Generation{nullptr,
                 SessionContext{loop_, std::move(config), routing, now.locks, now.certificates,
                                session_finished_callback(), now.metrics, shared_.auth_throttle,
                                shared_.upstream_governor, now.shared},
                 std::move(router)});
}

Status Pop3Service::start() {
  for (const auto& host_port : current_->context.config->listen) {
    if (Status status = listen(host_port, /*implicit_tls=*/false); !status) return status;
  }
  for (const auto& host_port : current_->context.config->listen_tls) {
    if (Status status = listen(host_port, /*implicit_tls=*/true); !status) return status;
  }
  return Ok{};
}

Status Pop3Service::listen(const io::HostPort& host_port, bool implicit_tls) {
  auto address = io::SocketAddress::from_numeric(host_port);
  if (!address) return make_error(ErrorKind::Permanent, "listen: not a numeric address: " + host_port.host);
  io::TcpListener::Options options;
  // --workers: every worker loop listens on the same port; the kernel spreads the connections.
  options.reuse_port = current_->context.config->workers > 1;
  // With upstream session reuse, a device polling again must reach the loop where its session is
  // parked (the pools are per loop): listeners are picked by client address, not by 4-tuple.
  if (current_->context.config->upstream_reuse_time_ms > 0) {
    options.steer_by_client_address = current_->context.config->workers;
  }
  auto listener = io::TcpListener::listen(
      loop_, *address, options,
      [this, implicit_tls](io::TransportPtr client) { accept(std::move(client), implicit_tls); });
  if (!listener) {
    listeners_.clear();
    return listener.error();
  }
  log::Line(log::Level::Info, "listening")
      .field("address", listener.value()->local_address().to_string())
      .field("tls", implicit_tls ? "implicit" : (current_->context.certificates ? "stls" : "none"));
  listeners_.push_back(std::move(listener).value());
  return Ok{};
}

void Pop3Service::stop() {
  for (auto& listener : listeners_) listener->close();
  shut_down_sessions();
}

uint64_t Pop3Service::drain(uint64_t timeout_ms, std::function<void(DrainOutcome)> drained) {
  if (draining_) return 0;
  draining_ = true;
  drained_ = std::move(drained);
  drain_sessions_ = sessions_.size();
  for (auto& listener : listeners_) listener->close();
  if (sessions_.empty()) {
    // Nothing to wait for; still report on a later tick, as promised.
    loop_.defer([this, alive = alive_.watch()] {
      if (!alive) return;
      if (sessions_.empty()) finish_drain();
    });
  } else if (timeout_ms == 0) {
    shut_down_sessions();
  } else {
    drain_timer_.start(timeout_ms, [this] { shut_down_sessions(); });
  }
  return drain_sessions_;
}

void Pop3Service::shut_down_sessions() {
  drain_timer_.stop();
  if (draining_) drain_shut_down_ += sessions_.size();
  // shut_down() finishes sessions, which schedules their removal: iterate over a copy of the ids.
  std::vector<uint64_t> ids;
  ids.reserve(sessions_.size());
  for (const auto& [id, entry] : sessions_) ids.push_back(id);
  for (uint64_t id : ids) {
    if (auto it = sessions_.find(id); it != sessions_.end()) it->second.session->shut_down();
  }
}

void Pop3Service::finish_drain() {
  if (!drained_) return;
  drain_timer_.stop();
  // A session that had already finished when the timeout came is counted as shut down: rare.
  const DrainOutcome outcome{drain_sessions_, std::min(drain_shut_down_, drain_sessions_)};
  auto drained = std::move(drained_);
  drained_ = nullptr;
  drained(outcome);
}

std::vector<io::SocketAddress> Pop3Service::listening_addresses() const {
  std::vector<io::SocketAddress> addresses;
  for (const auto& listener : listeners_) addresses.push_back(listener->local_address());
  return addresses;
}

void Pop3Service::accept(io::TransportPtr client, bool implicit_tls) {
  const Config& config = *current_->context.config;
  std::string address = client_address_key(client->peer().address);
  const AdmissionLimits limits{config.max_sessions, config.max_sessions_per_ip,
                               config.max_connection_rate_per_ip};
  if (Refusal refusal = shared_.admission.admit(address, loop_.now_ms(), limits); refusal != Refusal::None) {
    return refuse(std::move(client), implicit_tls, refusal);
  }
  const uint64_t id = shared_.next_session_id.fetch_add(1, std::memory_order_relaxed);
  AdmittedSession admitted(shared_.admission, std::move(address));
  auto session = std::make_unique<Pop3Session>(current_->context, id, std::move(client), implicit_tls);
  Pop3Session& started = *session;
  sessions_.emplace(id, Entry{current_, std::move(admitted), std::move(session)});
  started.start();
}

void Pop3Service::refuse(io::TransportPtr client, bool implicit_tls, Refusal refusal) {
  current_->context.metrics.connection_rejected(refusal);
  if (uint64_t suppressed = 0; refusal_log_.allow(loop_.now_ms(), suppressed)) {
    // The peer's address is the operator's business (it is never a metric label).
    log::Line(log::Level::Warn, "connection_rejected")
        .field("reason", to_string(refusal))
        .field("peer", client->peer().address)
        .field("listener", implicit_tls ? "pop3s" : "pop3")
        .field("sessions", shared_.admission.sessions())
        .field("suppressed", suppressed);
  }
  // RFC 3206: [SYS/TEMP], the client may come back later. A client on the implicit-TLS
  // listener expects a handshake and cannot read a plaintext line: it only sees the close.
  if (!implicit_tls) client->write("-ERR [SYS/TEMP] Too many connections; try again later.\r\n");
  client->end();
}

}  // namespace popgate
