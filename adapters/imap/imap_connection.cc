// Command sequencing and response routing for one upstream IMAP connection.
#include "adapters/imap/imap_connection.h"

#include <cstdio>
#include <utility>
#include <variant>

#include "gateway/io/tls_transport.h"
#include "gateway/log.h"
#include "protocol/common/str_cat.h"
#include "protocol/common/wipe.h"

namespace popgate {

ImapConnection::ImapConnection(io::Loop& loop, io::TransportPtr transport, uint64_t response_timeout_ms)
    : loop_(loop),
      transport_(std::move(transport)),
      timeout_(loop),
      response_timeout_ms_(response_timeout_ms) {
  transport_->set_handler(this);
  transport_->start_reading();
}

ImapConnection::~ImapConnection() {
  alive_.revoke();
  forget_sensitive_command();
  if (transport_ && !failed_) {
    // RFC 3501 §6.1.3: say goodbye; the transport flushes it and closes on its own.
    imap::Command logout = builder_.logout();
    transport_->write(logout.parts.front());
    transport_->end();
  }
}

void ImapConnection::await_greeting(CommandDone done) {
  done_ = std::move(done);
  phase_ = Phase::Greeting;
  arm_timeout();
}

void ImapConnection::run(imap::Command command, CommandObserver observer, CommandDone done) {
  if (failed_) {
    // Never complete inside the caller's stack.
    loop_.defer([alive = alive_.watch(), done = std::move(done)] {
      if (!alive) return;
      done(make_error(ErrorKind::Temporary, "upstream connection is gone"));
    });
    return;
  }
  command_ = std::move(command);
  observer_ = std::move(observer);
  done_ = std::move(done);
  next_part_ = 0;
  phase_ = Phase::Command;
  if (log::enabled(log::Level::Debug))
    log::Line(log::Level::Debug, "imap_command").field("command", command_.summary);
  send_next_part();
  arm_timeout();
}

void ImapConnection::run_synced(imap::Command command, CommandObserver observer, CommandDone done) {
  if (failed_ || command.parts.size() != 1)
    return run(std::move(command), std::move(observer), std::move(done));
  imap::Command noop = builder_.noop();
  sync_tag_ = noop.tag;
  command.parts.front().insert(0, noop.parts.front());
  run(std::move(command), std::move(observer), std::move(done));
}

void ImapConnection::send_next_part() {
  if (next_part_ < command_.parts.size()) transport_->write(command_.parts[next_part_++]);
}

void ImapConnection::start_tls(std::shared_ptr<io::TlsClientContext> context, const std::string& server_name,
                               uint64_t handshake_timeout_ms, std::function<void(Status)> done) {
  parser_ = imap::ImapResponseParser();
  transport_ = io::TlsTransport::connect(
      loop_, std::move(transport_), std::move(context), server_name, handshake_timeout_ms,
      [this, alive = alive_.watch(), done = std::move(done)](Status status) {
        if (!alive) return;
        if (!status) fail(ErrorKind::Temporary, "TLS with the upstream failed: " + status.error().detail);
        done(std::move(status));
      });
  transport_->set_handler(this);
  if (!paused_) transport_->start_reading();
}

void ImapConnection::pause_reading() {
  paused_ = true;
  if (transport_ && !failed_) transport_->stop_reading();
  // A paused stream is the client's doing, not the upstream's: don't time it out.
  timeout_.stop();
}

void ImapConnection::resume_reading() {
  paused_ = false;
  if (transport_ && !failed_) {
    transport_->start_reading();
    if (phase_ != Phase::Idle) arm_timeout();
  }
}

void ImapConnection::arm_timeout() {
  timeout_.start(response_timeout_ms_, [this] {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3g", static_cast<double>(response_timeout_ms_) / 1000.0);
    fail(ErrorKind::Temporary, std::string("upstream did not answer within ") + seconds + " s");
  });
}

void ImapConnection::on_data(std::string_view data) {
  if (failed_) return;
  if (phase_ != Phase::Idle && !paused_) arm_timeout();
  io::Liveness::Watch alive = alive_.watch();
  parser_.feed(data);
  for (;;) {
    imap::ParseEvent event = parser_.next();
    if (std::holds_alternative<imap::NeedMore>(event)) return;
    if (auto* error = std::get_if<imap::ParseError>(&event)) {
      fail(ErrorKind::Protocol, "malformed upstream response: " + error->reason);
      return;
    }
    if (auto* ready = std::get_if<imap::ResponseReady>(&event)) {
      handle_response(std::move(ready->response));
    } else if (auto* begin = std::get_if<imap::LiteralBegin>(&event)) {
      if (phase_ == Phase::Command && observer_.on_literal_begin) observer_.on_literal_begin(*begin);
    } else if (auto* chunk = std::get_if<imap::LiteralData>(&event)) {
      if (phase_ == Phase::Command && observer_.on_literal_data) observer_.on_literal_data(chunk->bytes);
    } else if (std::holds_alternative<imap::LiteralEnd>(event)) {
      if (phase_ == Phase::Command && observer_.on_literal_end) observer_.on_literal_end();
    }
    // Any callback above may have destroyed this connection (and the parser's input with it).
    if (!alive || failed_) return;
  }
}

void ImapConnection::handle_response(imap::Response&& response) {
  using imap::ResponseKind;
  switch (phase_) {
    case Phase::Greeting:
      if (response.kind == ResponseKind::Untagged && response.status) {
        phase_ = Phase::Idle;
        timeout_.stop();
        complete(std::move(response));
      } else {
        fail(ErrorKind::Protocol, "expected a greeting, got '" + response.name + "'");
      }
      return;
    case Phase::Idle:
      if (response.kind == ResponseKind::Untagged) {
        if (unsolicited_) unsolicited_(response);
      } else {
        fail(ErrorKind::Protocol, "unexpected response while no command runs");
      }
      return;
    case Phase::Command:
      break;
  }
  switch (response.kind) {
    case ResponseKind::Continuation:
      if (next_part_ < command_.parts.size()) {
        send_next_part();
      } else if (command_.sensitive) {
        // An extra SASL challenge: cancel the exchange (RFC 3501 §6.2.2), or acknowledge an
        // RFC 7628 error challenge so the server sends its NO; a second one is always cancelled.
        std::string answer = std::exchange(command_.challenge_answer, std::string(1, '*'));
        transport_->write(answer.append("\r\n"));
      } else {
        fail(ErrorKind::Protocol, "unexpected continuation request");
      }
      return;
    case ResponseKind::Untagged:
      if (observer_.on_untagged) {
        observer_.on_untagged(response);
      } else if (unsolicited_) {
        unsolicited_(response);
      }
      return;
    case ResponseKind::Tagged:
      if (!sync_tag_.empty() && response.tag == sync_tag_) {
        sync_tag_.clear();  // whatever the NOOP's outcome, the command after it decides
        return;
      }
      if (response.tag != command_.tag) {
        fail(ErrorKind::Protocol, "response for unknown tag '" + log::sanitize(response.tag, 20) + "'");
        return;
      }
      phase_ = Phase::Idle;
      timeout_.stop();
      complete(std::move(response));
      return;
  }
}

// LOGIN and AUTHENTICATE carry the password: once answered (or failed), no copy stays here.
// Each part is wiped in place (a short one lives inside the vector, not on the heap).
void ImapConnection::forget_sensitive_command() {
  if (!command_.sensitive) return;
  for (std::string& part : command_.parts) wipe(part);
  command_.parts.clear();
}

void ImapConnection::complete(Result<imap::Response> result) {
  forget_sensitive_command();
  CommandDone done = std::move(done_);
  done_ = nullptr;
  observer_ = {};
  if (done) done(std::move(result));
}

void ImapConnection::on_end(const io::StreamEnd& end) {
  if (failed_) return;
  fail(ErrorKind::Temporary,
       end.clean ? "upstream closed the connection" : "upstream connection failed: " + end.reason);
}

void ImapConnection::fail(ErrorKind kind, std::string detail) {
  if (failed_) return;
  failed_ = true;
  timeout_.stop();
  log::Line(log::Level::Warn, "upstream_error").field("adapter", "imap").field("error", detail);
  // Abort: after a protocol error or a timeout nothing more from this peer can be trusted.
  // Destroyed on the next tick: we may be inside one of its callbacks.
  transport_->set_handler(nullptr);
  transport_->stop_reading();
  loop_.deferred_delete(std::move(transport_));
  io::Liveness::Watch alive = alive_.watch();
  if (done_) complete(make_error(kind, std::move(detail)));
  if (!alive) return;
  if (on_failure_) std::exchange(on_failure_, nullptr)();
}

}  // namespace popgate
