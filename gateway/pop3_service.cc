// Pop3Service: accepts POP3 connections and owns their sessions until they finish.
#include "gateway/pop3_service.h"

#include "gateway/log.h"

namespace popgate {

Pop3Service::Pop3Service(io::Loop& loop, std::shared_ptr<const Config> config, MailboxFactory& mailboxes,
                         MaildropLocks& locks, const TlsCertificates* certificates)
    : loop_(loop), context_{loop, std::move(config), mailboxes, locks, certificates, nullptr} {
  context_.on_finished = [this](uint64_t id) {
    // The session may be deep in its own call stack: destroy it on the next tick.
    std::weak_ptr<bool> alive = alive_;
    loop_.defer([this, alive, id] {
      if (!alive.expired()) sessions_.erase(id);
    });
  };
}

Pop3Service::~Pop3Service() { *alive_ = false; }

Status Pop3Service::start() {
  for (const auto& host_port : context_.config->listen) {
    if (Status status = listen(host_port, /*implicit_tls=*/false); !status) return status;
  }
  for (const auto& host_port : context_.config->listen_tls) {
    if (Status status = listen(host_port, /*implicit_tls=*/true); !status) return status;
  }
  return Ok{};
}

Status Pop3Service::listen(const io::HostPort& host_port, bool implicit_tls) {
  auto address = io::SocketAddress::from_numeric(host_port);
  if (!address) return make_error(ErrorKind::Permanent, "listen: not a numeric address: " + host_port.host);
  auto listener = io::TcpListener::listen(loop_, *address, {}, [this, implicit_tls](io::TransportPtr client) {
    accept(std::move(client), implicit_tls);
  });
  if (!listener) {
    listeners_.clear();
    return listener.error();
  }
  log::Line(log::Level::Info, "listening")
      .field("address", listener.value()->local_address().to_string())
      .field("tls", implicit_tls ? "implicit" : (context_.certificates ? "stls" : "none"));
  listeners_.push_back(std::move(listener).value());
  return Ok{};
}

void Pop3Service::stop() {
  for (auto& listener : listeners_) listener->close();
  // shut_down() finishes sessions, which schedules their removal: iterate over a copy of the ids.
  std::vector<uint64_t> ids;
  ids.reserve(sessions_.size());
  for (const auto& [id, session] : sessions_) ids.push_back(id);
  for (uint64_t id : ids) {
    if (auto it = sessions_.find(id); it != sessions_.end()) it->second->shut_down();
  }
}

std::vector<io::SocketAddress> Pop3Service::listening_addresses() const {
  std::vector<io::SocketAddress> addresses;
  for (const auto& listener : listeners_) addresses.push_back(listener->local_address());
  return addresses;
}

void Pop3Service::accept(io::TransportPtr client, bool implicit_tls) {
  uint64_t id = next_session_id_++;
  auto session = std::make_unique<Pop3Session>(context_, id, std::move(client), implicit_tls);
  Pop3Session& started = *session;
  sessions_.emplace(id, std::move(session));
  started.start();
}

}  // namespace popgate
