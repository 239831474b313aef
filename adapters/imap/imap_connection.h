// ImapConnection: one upstream IMAP connection that runs one command at a time.
//
// It owns the transport, the response parser and the command builder; it sends a
// command (waiting for "+" before each later part of a synchronising literal), routes
// untagged responses and streamed literals to the command's observer, and completes
// the command with its tagged response. A dropped connection, a parse error or a
// silent upstream fails the command in flight and every later one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls_context.h"
#include "gateway/io/transport.h"
#include "protocol/common/result.h"
#include "protocol/imap/imap_command_builder.h"
#include "protocol/imap/imap_response_parser.h"

namespace popgate {

struct CommandObserver {
  std::function<void(const imap::Response&)> on_untagged;
  std::function<void(const imap::LiteralBegin&)> on_literal_begin;
  std::function<void(std::string_view)> on_literal_data;
  std::function<void()> on_literal_end;
};

// The tagged response, whatever its status; an Error only when the connection failed.
using CommandDone = std::function<void(Result<imap::Response>)>;

class ImapConnection final : public io::TransportHandler {
 public:
  ImapConnection(io::Loop& loop, io::TransportPtr transport, uint64_t response_timeout_ms);
  // Logs out politely when the connection is healthy; no callback runs afterwards.
  ~ImapConnection() override;
  ImapConnection(const ImapConnection&) = delete;
  ImapConnection& operator=(const ImapConnection&) = delete;

  // The greeting is the "response" to connecting: OK, PREAUTH or BYE.
  void await_greeting(CommandDone done);
  void run(imap::Command command, CommandObserver observer, CommandDone done);
  // The same, with a NOOP sent in the same write just before: the server reports
  // expunges made by other sessions before it runs the command (RFC 2180 §4.1), at
  // no extra round trip. Only for commands of one part (no synchronising literal).
  void run_synced(imap::Command command, CommandObserver observer, CommandDone done);

  // STARTTLS (RFC 3501 §6.2.1) after its tagged OK: wraps the stream in TLS. Anything the
  // server sent before the handshake is discarded (the STARTTLS injection class of bugs).
  void start_tls(std::shared_ptr<io::TlsClientContext> context, const std::string& server_name,
                 uint64_t handshake_timeout_ms, std::function<void(Status)> done);

  void pause_reading();
  void resume_reading();

  bool failed() const { return failed_; }
  // Healthy, no command running and reading: what a connection parked for reuse must be.
  bool idle() const { return !failed_ && phase_ == Phase::Idle && !paused_; }
  // Runs once, at the end of fail(), whether or not a command was running: a parked connection
  // learns that the upstream ended it. Null clears it.
  void set_failure_handler(std::function<void()> handler) { on_failure_ = std::move(handler); }
  imap::ImapCommandBuilder& builder() { return builder_; }
  // Untagged responses that arrive while no command runs.
  void set_unsolicited_handler(std::function<void(const imap::Response&)> handler) {
    unsolicited_ = std::move(handler);
  }

  // TransportHandler
  void on_data(std::string_view data) override;
  void on_end(const io::StreamEnd& end) override;

 private:
  enum class Phase { Greeting, Idle, Command };

  void send_next_part();
  void handle_response(imap::Response&& response);
  void complete(Result<imap::Response> result);
  void forget_sensitive_command();
  void fail(ErrorKind kind, std::string detail);
  void arm_timeout();

  io::Loop& loop_;
  io::TransportPtr transport_;
  imap::ImapResponseParser parser_;
  imap::ImapCommandBuilder builder_;
  io::Timer timeout_;
  uint64_t response_timeout_ms_;
  Phase phase_ = Phase::Greeting;
  bool failed_ = false;
  bool paused_ = false;
  imap::Command command_;
  size_t next_part_ = 0;
  std::string sync_tag_;  // the tag of a NOOP whose completion is awaited silently
  CommandObserver observer_;
  CommandDone done_;
  std::function<void(const imap::Response&)> unsolicited_;
  std::function<void()> on_failure_;
  // Revoked when this object dies, so a loop over parser events can stop if a callback destroyed it.
  io::Liveness alive_;
};

}  // namespace popgate
