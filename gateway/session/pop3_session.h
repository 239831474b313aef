// Pop3Session: one POP3 client connection, driving a Pop3Server and a Mailbox.
//
// The session is the only place where protocol events meet I/O: it writes replies,
// runs the mailbox operation each event asks for, streams message bodies through the
// DotStuffer with backpressure, and keeps the idle and login-delay timers. A login is a
// LoginFlow's (gateway/session/login_flow.h); the session answers with its outcome.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "adapters/mailbox.h"
#include "gateway/admin/metrics.h"
#include "gateway/config/config.h"
#include "gateway/io/loop.h"
#include "gateway/io/timer.h"
#include "gateway/io/transport.h"
#include "gateway/limits/maildrop_lock.h"
#include "gateway/limits/upstream_governor.h"
#include "gateway/session/login_flow.h"
#include "gateway/session/session_context.h"
#include "protocol/pop3/dot_stuffer.h"
#include "protocol/pop3/pop3_server.h"
#include "protocol/pop3/top_filter.h"

namespace popgate {

class Pop3Session final : public io::TransportHandler, public BodySink, public LoginHandler {
 public:
  // With `implicit_tls` the connection starts with a TLS handshake (port 995, RFC 8314).
  Pop3Session(SessionContext& context, uint64_t id, io::TransportPtr client, bool implicit_tls = false);
  ~Pop3Session() override;
  Pop3Session(const Pop3Session&) = delete;
  Pop3Session& operator=(const Pop3Session&) = delete;

  void start();
  // The service is stopping: say so and close, deleting nothing.
  void shut_down();
  uint64_t id() const { return id_; }

  // io::TransportHandler
  void on_data(std::string_view data) override;
  void on_end(const io::StreamEnd& end) override;
  void on_drained() override;

  // BodySink
  void on_body_start() override;
  bool on_body_chunk(std::string_view chunk) override;

  // LoginHandler
  void on_login_action(std::string_view action) override;
  void on_login_done(LoginOutcome&& outcome) override;

 private:
  void greet();
  void start_tls(bool implicit);
  void on_tls_ready(Status status, bool implicit);
  void pump();
  void authenticate(pop3::Authenticate&& request);
  // Upstream session reuse (gateway/upstream/upstream_pool.h): parking this session's mailbox at a
  // clean end.
  void park_mailbox();
  void retrieve(const pop3::Retrieve& request);
  void on_retrieved(Status status);
  void commit(const pop3::Commit& request);
  void on_committed(Status status, uint64_t count);
  void on_update_timeout();
  // Answers the login with `kind` after `delay_ms`.
  void answer_failed_login(ErrorKind kind, uint64_t delay_ms);
  void arm_idle_timer();
  void finish(std::string_view outcome);
  // Writes to the client and counts the octets.
  void write_client(std::string_view bytes);
  // Turns Pop3Server's command records into popgate_commands_total and command durations.
  void record_commands(uint64_t began_ns);
  // The mailbox and what counts it go together (see upstream_connection_).
  void retire_mailbox();

  SessionContext& context_;
  const std::shared_ptr<const Config> config_;  // this session keeps the config it started with
  const uint64_t id_;
  const bool implicit_tls_;
  io::TransportPtr client_;
  pop3::Pop3Server server_;
  // The login in progress, or the one that opened mailbox_ (its identity still hears about
  // throttling answers); null before the first.
  LoginFlowPtr login_;
  MailboxPtr mailbox_;
  // popgate_upstream_connections_active, held while mailbox_ exists. An approximation: each
  // open mailbox holds one upstream connection (IMAP does; JMAP's HTTP client may hold none
  // between requests, or reconnect).
  GaugeToken upstream_connection_;
  // The identity's place under --max-upstream-sessions-per-identity, held while mailbox_ exists.
  UpstreamGovernor::Slot upstream_slot_;
  // Upstream session reuse (gateway/upstream/upstream_pool.h).
  MailboxFactory* mailbox_source_ = nullptr;  // where mailbox_ came from (and may be parked)
  std::string park_key_;                      // UpstreamPool::park_key; empty: reuse is off
  Snapshot snapshot_;
  MaildropLockPtr lock_;
  io::Timer idle_timer_;
  io::Timer auth_delay_timer_;
  io::Timer update_timer_;  // --update-timeout: how long QUIT's UPDATE may take

  // The message being streamed.
  pop3::DotStuffer stuffer_;
  std::optional<pop3::TopFilter> top_filter_;
  std::optional<size_t> retrieving_;
  bool upstream_paused_ = false;
  std::string out_;  // reused output buffer

  std::string user_;                 // for the log, once authenticated
  std::string action_ = "greeting";  // what the session is doing, for every log line
  uint64_t commands_ = 0;            // completed POP3 commands
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  uint64_t retrieved_ = 0;
  uint64_t deleted_ = 0;
  uint64_t started_ms_ = 0;
  bool finished_ = false;

  Metrics& metrics_;
  GaugeToken active_;                            // popgate_sessions_active{listener}
  UpstreamMetrics* upstream_metrics_ = nullptr;  // of mailbox_->kind(), once a mailbox exists
  uint64_t command_began_ns_ = 0;                // when the command being answered began (io::monotonic_ns)
  uint64_t operation_began_ns_ = 0;              // when the upstream operation in flight began
};

}  // namespace popgate
