// A scripted IMAP server on 127.0.0.1 port 0, for what a real server won't do: hang on the banner,
// drop the connection after login, drop in the middle of a literal.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace popgate::integration {

// The one mailbox it serves holds a single message (UID 1) of `message_size` octets.
struct FakeImapScript {
  bool send_greeting = true;            // false: accept and stay silent
  bool drop_after_login = false;        // close the connection right after a successful login
  uint64_t message_size = 4096;         // RFC822.SIZE and the announced BODY[] literal length
  uint64_t body_bytes_before_drop = 0;  // < message_size: send this much of the literal, then close
  bool stall_on_update = false;         // never answer STORE, EXPUNGE, MOVE or COPY (stay silent)
  // Non-empty: the tagged answer to every LOGIN / AUTHENTICATE instead of OK, e.g. Exchange
  // Online's throttling "NO [UNAVAILABLE] Server Unavailable. 15".
  std::string login_answer;
};

class FakeImapServer {
 public:
  // Listens at once (bound to port 0, so no race) and serves connections one at a time on a thread.
  explicit FakeImapServer(FakeImapScript script);
  ~FakeImapServer();
  FakeImapServer(const FakeImapServer&) = delete;
  FakeImapServer& operator=(const FakeImapServer&) = delete;

  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int body_fetches() const { return body_fetches_.load(); }
  // LOGIN and AUTHENTICATE commands received (connections also count readiness probes).
  int logins() const { return logins_.load(); }

 private:
  void run();
  void serve(int fd);

  FakeImapScript script_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> body_fetches_{0};
  std::atomic<int> logins_{0};
  std::thread thread_;
};

}  // namespace popgate::integration
