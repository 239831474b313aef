// Pop3Service: the POP3 listeners of one loop and the sessions they accepted.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "gateway/io/tcp_listener.h"
#include "gateway/pop3_session.h"

namespace popgate {

class Pop3Service {
 public:
  Pop3Service(io::Loop& loop, std::shared_ptr<const Config> config, MailboxFactory& mailboxes, MaildropLocks& locks,
              const TlsCertificates* certificates);
  ~Pop3Service();
  Pop3Service(const Pop3Service&) = delete;
  Pop3Service& operator=(const Pop3Service&) = delete;

  // Binds every configured listener; the first failure is returned and nothing listens.
  Status start();
  // Stops accepting and closes every session without UPDATE.
  void stop();

  size_t active_sessions() const { return sessions_.size(); }
  std::vector<io::SocketAddress> listening_addresses() const;

 private:
  Status listen(const io::HostPort& host_port, bool implicit_tls);
  void accept(io::TransportPtr client, bool implicit_tls);

  io::Loop& loop_;
  SessionContext context_;
  std::vector<std::unique_ptr<io::TcpListener>> listeners_;
  std::unordered_map<uint64_t, std::unique_ptr<Pop3Session>> sessions_;
  uint64_t next_session_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace popgate
