// Pop3Session: runs the events of a Pop3Server against a Mailbox and the client socket.
#include "gateway/session/pop3_session.h"

#include <utility>
#include <variant>

#include "gateway/io/tls_transport.h"
#include "gateway/limits/admission_control.h"
#include "gateway/log.h"

namespace popgate {
namespace {

pop3::Options server_options(const SessionContext& context, const io::Transport& client, bool implicit_tls) {
  const Config& config = *context.config;
  pop3::Options options;
  options.limits = config.limits;
  options.stls_offered = context.certificates != nullptr && !implicit_tls;
  // RFC 2595 §2.3 / RFC 8314: no passwords in the clear over a network unless the operator
  // says so. An implicit-TLS session is secure before its first command.
  options.plaintext_auth_allowed = implicit_tls || client.peer().loopback || config.allow_plaintext_auth;
  return options;
}

}  // namespace

Pop3Session::Pop3Session(SessionContext& context, uint64_t id, io::TransportPtr client, bool implicit_tls)
    : context_(context),
      config_(context.config),
      id_(id),
      implicit_tls_(implicit_tls),
      client_(std::move(client)),
      server_(server_options(context, *client_, implicit_tls)),
      idle_timer_(context.loop),
      auth_delay_timer_(context.loop),
      update_timer_(context.loop),
      metrics_(context.metrics),
      active_(metrics_.session_opened(implicit_tls ? Listener::Pop3s : Listener::Pop3)) {}

Pop3Session::~Pop3Session() = default;

void Pop3Session::start() {
  started_ms_ = context_.loop.now_ms();
  log::Line(log::Level::Info, "session_open")
      .field("session", id_)
      .field("peer", client_->peer().address + ":" + std::to_string(client_->peer().port))
      .field("listener", implicit_tls_ ? "pop3s" : "pop3");
  if (implicit_tls_) return start_tls(/*implicit=*/true);
  client_->set_handler(this);
  greet();
}

void Pop3Session::greet() {
  out_ = server_.greeting();
  write_client(out_);
  client_->start_reading();
  action_ = "waiting for a command";
  arm_idle_timer();
}

void Pop3Session::start_tls(bool implicit) {
  action_ = implicit ? "TLS handshake" : "TLS handshake after STLS";
  auto certificate = context_.certificates->current();
  // The plain transport goes inside the TLS one; "+OK Begin TLS" is already queued on it, ahead
  // of the handshake. Plaintext the client pipelined after STLS stays in Pop3Server's buffer,
  // which tls_started() throws away (CVE-2011-0411).
  client_ = io::TlsTransport::accept(
      context_.loop, std::move(client_), std::move(certificate), config_->tls_handshake_timeout_ms,
      [this, implicit](Status status) { on_tls_ready(std::move(status), implicit); });
  client_->set_handler(this);
}

void Pop3Session::on_tls_ready(Status status, bool implicit) {
  if (finished_) return;
  metrics_.tls_handshake(TlsSide::Downstream, status.ok());
  if (!status) {
    log::Line(log::Level::Info, "tls_failed").field("session", id_).field("reason", status.error().detail);
    return finish("TLS handshake failed");
  }
  auto& tls = static_cast<io::TlsTransport&>(*client_);
  log::Line(log::Level::Debug, "tls_established")
      .field("session", id_)
      .field("version", tls.protocol_version())
      .field("cipher", tls.cipher());
  if (implicit) return greet();
  server_.tls_started();
  client_->start_reading();
  pump();
}

void Pop3Session::shut_down() {
  if (finished_) return;
  // A reply cannot be slipped into a body that is streaming: just close.
  if (retrieving_) return finish("shutdown");
  server_.shutdown();
  pump();
}

// ---------------------------------------------------------------- client side

void Pop3Session::on_data(std::string_view data) {
  if (finished_) return;
  metrics_.downstream_received(data.size());
  bytes_in_ += data.size();
  server_.receive(data);
  if (!server_.wants_input()) client_->stop_reading();
  pump();
}

void Pop3Session::on_end(const io::StreamEnd& end) {
  // A dropped connection never reaches UPDATE: nothing is deleted (RFC 1939 §6).
  finish(end.clean ? "client closed the connection" : "client connection failed: " + end.reason);
}

void Pop3Session::on_drained() {
  if (finished_ || !upstream_paused_) return;
  upstream_paused_ = false;
  idle_timer_.stop();
  if (mailbox_) mailbox_->resume_body();
}

void Pop3Session::pump() {
  record_commands(command_began_ns_);  // commands a completion method just ended
  // Replies answered from the snapshot go out together: a pipelining client (RFC 2449) that sent
  // many commands in one packet gets their replies in one write, not a system call each. The
  // batch is sent, in order, before anything else happens (an upstream action, STLS, the end).
  std::string replies;
  while (!finished_) {
    const uint64_t before_ns = io::monotonic_ns();
    pop3::Event event = server_.next_event();
    record_commands(before_ns);
    if (auto* reply = std::get_if<pop3::SendReply>(&event)) {
      idle_timer_.stop();  // a whole command: the clock restarts when input is wanted again
      replies.append(reply->bytes);
      continue;
    }
    if (!replies.empty()) write_client(std::exchange(replies, {}));
    if (std::holds_alternative<pop3::NeedInput>(event)) {
      client_->start_reading();
      action_ = "waiting for a command";
      // Only a whole command restarts the clock (the events above stop it): a client that
      // trickles bytes without ever finishing a line (slowloris) still times out.
      if (!idle_timer_.active()) arm_idle_timer();
      return;
    }
    if (std::holds_alternative<pop3::Waiting>(event)) return;
    idle_timer_.stop();
    if (auto* auth = std::get_if<pop3::Authenticate>(&event)) {
      authenticate(std::move(*auth));
    } else if (auto* retrieve_request = std::get_if<pop3::Retrieve>(&event)) {
      retrieve(*retrieve_request);
    } else if (auto* commit_request = std::get_if<pop3::Commit>(&event)) {
      commit(*commit_request);
    } else if (std::holds_alternative<pop3::StartTls>(event)) {
      // Pop3Server offers STLS only when certificates are configured (server_options).
      return start_tls(/*implicit=*/false);
    } else if (std::holds_alternative<pop3::Close>(event)) {
      return finish(pop3::to_string(server_.close_reason()));
    }
  }
}

void Pop3Session::arm_idle_timer() {
  // RFC 1939 §3: an inactive client is logged out without entering UPDATE.
  idle_timer_.start(config_->idle_timeout_ms, [this] {
    if (finished_) return;
    server_.idle_timeout();
    pump();
  });
}

// ---------------------------------------------------------------- login

void Pop3Session::authenticate(pop3::Authenticate&& request) {
  user_ = request.user;
  const AuthMechanism mechanism = auth_mechanism(request.mechanism);
  const CredentialKind kind = credential_kind(mechanism);
  // A new login only follows the last one's answer, so the last flow has nothing in flight (it may
  // still be unwinding from that answer: it touches nothing of itself any more).
  login_ = std::make_unique<LoginFlow>(context_, *config_, *this, id_);
  login_->start(LoginRequest{
      mechanism, Credentials{request.mechanism, std::move(request.user), std::move(request.password), kind},
      client_address_key(client_->peer().address)});
}

void Pop3Session::on_login_action(std::string_view action) {
  action_ = action;
}

void Pop3Session::on_login_done(LoginOutcome&& outcome) {
  if (auto* refusal = std::get_if<LoginRefusal>(&outcome)) {
    user_.clear();
    if (refusal->delay_ms) return answer_failed_login(refusal->kind, *refusal->delay_ms);
    server_.auth_failed(refusal->kind);
    return pump();
  }
  OpenedMailbox& opened = std::get<OpenedMailbox>(outcome);
  mailbox_ = std::move(opened.mailbox);
  upstream_metrics_ = opened.metrics;
  upstream_connection_ = std::move(opened.connection);
  upstream_slot_ = std::move(opened.slot);
  mailbox_source_ = opened.source;
  park_key_ = std::move(opened.park_key);
  lock_ = std::move(opened.lock);
  snapshot_ = std::move(opened.snapshot);
  std::vector<pop3::MessageListing> listing;
  listing.reserve(snapshot_.messages.size());
  for (const auto& message : snapshot_.messages) listing.push_back({message.size, message.uidl});
  server_.auth_succeeded(std::move(listing));
  pump();
}

void Pop3Session::answer_failed_login(ErrorKind kind, uint64_t delay_ms) {
  action_ = "delaying a failed login";
  auth_delay_timer_.start(delay_ms, [this, kind] {
    if (finished_) return;
    server_.auth_failed(kind);
    pump();
  });
}

void Pop3Session::park_mailbox() {
  // Only a session that ended cleanly (QUIT, and UPDATE done) leaves its upstream session to the
  // next login; after an error, a timeout or a dropped client the mailbox is destroyed as ever.
  if (server_.close_reason() != pop3::CloseReason::Quit || !mailbox_ || mailbox_source_ == nullptr ||
      park_key_.empty() || !mailbox_->can_park()) {
    return;
  }
  mailbox_source_->park(park_key_, std::move(mailbox_));
  upstream_connection_.reset();  // popgate_upstream_parked_connections counts it now
}

// ---------------------------------------------------------------- RETR and TOP

void Pop3Session::retrieve(const pop3::Retrieve& request) {
  action_ = "streaming message " + std::to_string(request.index + 1);
  retrieving_ = request.index;
  stuffer_ = pop3::DotStuffer{};
  top_filter_.reset();
  if (request.top_lines) top_filter_.emplace(*request.top_lines);
  operation_began_ns_ = io::monotonic_ns();
  mailbox_->fetch(snapshot_.messages[request.index],
                  request.top_lines ? FetchKind::HeadFirst : FetchKind::Whole, *this,
                  [this](Status status) { on_retrieved(std::move(status)); });
}

void Pop3Session::on_body_start() {
  if (finished_) return;
  out_ = server_.retrieve_started();
  write_client(out_);
}

bool Pop3Session::on_body_chunk(std::string_view chunk) {
  if (finished_) return false;
  if (top_filter_) chunk = chunk.substr(0, top_filter_->feed(chunk));
  out_.clear();
  stuffer_.feed(chunk, out_);
  if (!out_.empty()) write_client(out_);
  if (!upstream_paused_ && client_->over_high_watermark()) {
    // Backpressure: the client reads slower than the upstream sends. Stop reading the
    // upstream until the client's queue drains; a client that never drains is dropped.
    upstream_paused_ = true;
    mailbox_->pause_body();
    idle_timer_.start(config_->idle_timeout_ms, [this] {
      if (!finished_) finish("client stopped reading");
    });
  }
  return !top_filter_ || !top_filter_->done();
}

void Pop3Session::on_retrieved(Status status) {
  if (finished_) return;
  upstream_metrics_->observe(UpstreamOperation::Fetch, io::seconds_since(operation_began_ns_));
  if (!status) {
    upstream_metrics_->error(UpstreamOperation::Fetch, status.error().kind);
    login_->note_upstream_error(status.error());
  }
  if (upstream_paused_) {
    upstream_paused_ = false;
    idle_timer_.stop();
    mailbox_->resume_body();
  }
  size_t index = *retrieving_;
  retrieving_.reset();
  if (!status) {
    log::Line(status.error().kind == ErrorKind::NotFound ? log::Level::Info : log::Level::Warn,
              "retrieve_failed")
        .field("session", id_)
        .field("message", static_cast<uint64_t>(index + 1))
        .field("class", to_string(status.error().kind))
        .field("reason", status.error().detail);
    server_.retrieve_failed(status.error().kind);
    return pump();
  }
  out_.clear();
  stuffer_.finish(out_);
  write_client(out_);
  if (!top_filter_) {
    ++retrieved_;
    metrics_.message_retrieved();
    uint64_t promised = snapshot_.messages[index].size;
    if (stuffer_.message_octets() != promised) {
      // The content wins over the listing: see README, "Sizes".
      log::Line(log::Level::Warn, "size_mismatch")
          .field("session", id_)
          .field("message", static_cast<uint64_t>(index + 1))
          .field("listed", promised)
          .field("sent", stuffer_.message_octets());
    }
  }
  server_.retrieve_finished();
  pump();
}

// ---------------------------------------------------------------- UPDATE

void Pop3Session::commit(const pop3::Commit& request) {
  action_ = "updating the upstream mailbox";
  std::vector<MessageInfo> deleted;
  deleted.reserve(request.deleted.size());
  for (size_t index : request.deleted) deleted.push_back(snapshot_.messages[index]);
  uint64_t count = deleted.size();
  operation_began_ns_ = io::monotonic_ns();
  update_timer_.start(config_->update_timeout_ms, [this] { on_update_timeout(); });
  mailbox_->commit(std::move(deleted),
                   [this, count](Status status) { on_committed(std::move(status), count); });
}

void Pop3Session::on_committed(Status status, uint64_t count) {
  if (finished_) return;
  update_timer_.stop();
  // RFC 1939 §6: UPDATE is over, so the maildrop is free before the client reads the answer: its
  // next session may land on another worker loop at once (--workers), not after this one's close.
  lock_.reset();
  upstream_metrics_->observe(UpstreamOperation::Commit, io::seconds_since(operation_began_ns_));
  if (status) {
    deleted_ = count;
    metrics_.messages_deleted(count);
    server_.commit_succeeded();
  } else {
    upstream_metrics_->error(UpstreamOperation::Commit, status.error().kind);
    login_->note_upstream_error(status.error());
    log::Line(log::Level::Error, "update_failed")
        .field("session", id_)
        .field("user", user_)
        .field("marked", count)
        .field("class", to_string(status.error().kind))
        .field("reason", status.error().detail);
    server_.commit_failed(status.error().kind);
  }
  pump();
}

void Pop3Session::on_update_timeout() {
  if (finished_) return;
  upstream_metrics_->observe(UpstreamOperation::Commit, io::seconds_since(operation_began_ns_));
  upstream_metrics_->error(UpstreamOperation::Commit, ErrorKind::Temporary);
  log::Line(log::Level::Error, "update_failed")
      .field("session", id_)
      .field("user", user_)
      .field("class", to_string(ErrorKind::Temporary))
      .field("reason", "UPDATE took longer than --update-timeout");
  // The client hears [SYS/TEMP] and the session closes. Dropping the mailbox cancels what is
  // still in flight upstream; what the upstream already confirmed (a STORE, an EXPUNGE) stays
  // done, and a message whose removal was not confirmed is simply still there next time.
  retire_mailbox();
  server_.commit_failed(ErrorKind::Temporary);
  pump();
}

// ---------------------------------------------------------------- end

void Pop3Session::finish(std::string_view outcome) {
  if (finished_) return;
  finished_ = true;
  record_commands(command_began_ns_);
  idle_timer_.stop();
  auth_delay_timer_.stop();
  update_timer_.stop();
  login_.reset();  // cancels a login in flight
  park_mailbox();
  lock_.reset();
  client_->end();  // flushes the last reply, then closes
  log::Line(log::Level::Info, "session_close")
      .field("session", id_)
      .field("user", user_)
      .field("listener", implicit_tls_ ? "pop3s" : "pop3")
      .field("tls", client_->secure())
      .field("outcome", outcome)
      .field("action", action_)
      .field("commands", commands_)
      .field("bytes_in", bytes_in_)
      .field("bytes_out", bytes_out_)
      .field("retrieved", retrieved_)
      .field("deleted", deleted_)
      .field("duration_s", static_cast<double>(context_.loop.now_ms() - started_ms_) / 1000.0);
  context_.on_finished(id_);
}

// ---------------------------------------------------------------- metrics

void Pop3Session::write_client(std::string_view bytes) {
  bytes_out_ += bytes.size();
  metrics_.downstream_sent(bytes.size());
  client_->write(bytes);
}

// `began_ns` is when the server was last asked for an event: a command that began in that
// call began then. Its end is timed now, so a command's duration covers its upstream action.
void Pop3Session::record_commands(uint64_t began_ns) {
  const std::vector<pop3::CommandRecord>& records = server_.command_records();
  if (records.empty()) return;
  const uint64_t now_ns = io::monotonic_ns();
  for (const pop3::CommandRecord& record : records) {
    if (record.mark == pop3::CommandMark::Began) {
      command_began_ns_ = began_ns;
    } else {
      ++commands_;
      metrics_.command_completed(record.keyword, record.mark == pop3::CommandMark::Ok,
                                 static_cast<double>(now_ns - command_began_ns_) / 1e9);
    }
  }
  server_.clear_command_records();
}

void Pop3Session::retire_mailbox() {
  if (!mailbox_) return;
  retire_upstream_mailbox(context_.loop, std::move(mailbox_), std::move(upstream_connection_),
                          std::move(upstream_slot_));
}

}  // namespace popgate
