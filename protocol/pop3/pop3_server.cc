// Pop3Server: the POP3 server state machine (RFC 1939, 2449, 5034), fed bytes, answering events.
// This file: input framing, dispatch, replies and completions; the commands are in
// pop3_server_commands.cc.
#include "protocol/pop3/pop3_server.h"

#include <algorithm>
#include <array>
#include <utility>

#include "protocol/common/wipe.h"
#include "protocol/pop3/pop3_command.h"
#include "protocol/pop3/pop3_server_text.h"

namespace popgate::pop3 {

const char* to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::None:
      return "none";
    case CloseReason::Quit:
      return "quit";
    case CloseReason::TooManyBadCommands:
      return "too many bad commands";
    case CloseReason::UpdateFailed:
      return "update failed";
    case CloseReason::RetrieveFailed:
      return "upstream failed mid-message";
    case CloseReason::IdleTimeout:
      return "idle timeout";
    case CloseReason::Shutdown:
      return "shutdown";
  }
  return "none";
}

namespace {

constexpr std::string_view kCrlf = "\r\n";

// The input buffer holds PASS and AUTH lines, so it never leaves a copy of its octets behind:
// drops the first `consumed` octets (already wiped) and appends `data`; octets moved down are
// wiped where they were, and a buffer that must grow is wiped before it is freed.
void compact_and_append(std::string& buffer, size_t consumed, std::string_view data) {
  const size_t kept = buffer.size() - consumed;
  if (kept + data.size() > buffer.capacity()) {
    std::string grown;
    grown.reserve(std::max(kept + data.size(), 2 * buffer.capacity()));
    grown.append(buffer, consumed, kept);
    grown.append(data);
    wipe(buffer);
    buffer.swap(grown);  // the old, wiped buffer is freed with `grown`
    return;
  }
  if (consumed > 0) {
    std::copy(buffer.begin() + static_cast<std::ptrdiff_t>(consumed), buffer.end(), buffer.begin());
    wipe_range(buffer, kept, buffer.size());
    buffer.resize(kept);
  }
  buffer.append(data);
}

}  // namespace

// RFC 1939 §§4-6: which commands each state accepts, and who handles them.
struct Pop3Server::CommandEntry {
  std::string_view keyword;
  bool in_authorization;
  bool in_transaction;
  Handler handler;
};

const Pop3Server::CommandEntry* Pop3Server::find_command(std::string_view keyword) {
  static constexpr std::array<CommandEntry, 14> kCommands{{
      // RFC 1939 §4 AUTHORIZATION; NOOP is deliberately absent there (nginx's ngx_pop3_user
      // allows it, the RFC does not).
      {"USER", true, false, &Pop3Server::cmd_user},
      {"PASS", true, false, &Pop3Server::cmd_pass},
      {"AUTH", true, false, &Pop3Server::cmd_auth},  // RFC 5034
      {"STLS", true, true, &Pop3Server::cmd_stls},   // RFC 2595 §4; the handler checks the state
      {"CAPA", true, true, &Pop3Server::cmd_capa},   // RFC 2449 §5
      {"QUIT", true, true, &Pop3Server::cmd_quit},
      // RFC 1939 §5 TRANSACTION
      {"STAT", false, true, &Pop3Server::cmd_stat},
      {"LIST", false, true, &Pop3Server::cmd_list},
      {"RETR", false, true, &Pop3Server::cmd_retr},
      {"DELE", false, true, &Pop3Server::cmd_dele},
      {"NOOP", false, true, &Pop3Server::cmd_noop},
      {"RSET", false, true, &Pop3Server::cmd_rset},
      {"TOP", false, true, &Pop3Server::cmd_top},
      {"UIDL", false, true, &Pop3Server::cmd_uidl},
  }};
  for (const CommandEntry& entry : kCommands) {
    if (iequals(entry.keyword, keyword)) return &entry;
  }
  return nullptr;
}

Pop3Server::Pop3Server(Options options) : options_(std::move(options)) {}

std::string Pop3Server::greeting() const {
  return "+OK popgate ready.\r\n";
}

void Pop3Server::receive(std::string_view data) {
  if (state_ == State::Closed) return;  // nothing the client says matters any more
  compact_and_append(input_, input_pos_, data);
  input_pos_ = 0;
}

Event Pop3Server::next_event() {
  for (;;) {
    if (!queued_.empty()) {
      Event event = std::move(queued_.front());
      queued_.pop_front();
      return event;
    }
    if (state_ == State::Closed) return Close{};
    if (pending_ != Pending::None) return Waiting{};
    // A consumed line is wiped at once: "PASS secret" must not outlive its command. (A session
    // closed by the line has already wiped and emptied the whole buffer.)
    const size_t line_start = input_pos_;
    const bool processed = process_next_line();
    wipe_range(input_, line_start, input_pos_);
    if (!processed) {
      current_command_ = {};
      return NeedInput{};
    }
  }
}

// Takes one line off the input and answers it. False when no whole line is buffered.
bool Pop3Server::process_next_line() {
  std::string_view buffer(input_.data() + input_pos_, input_.size() - input_pos_);
  if (discarding_long_line_) {
    // Resynchronise on the next LF after a line that was too long.
    const size_t lf = buffer.find('\n');
    if (lf == std::string_view::npos) {
      input_pos_ = input_.size();
      return false;
    }
    input_pos_ += lf + 1;
    buffer.remove_prefix(lf + 1);
    discarding_long_line_ = false;
  }
  // RFC 5034 §4: AUTH continuation lines carry whole base64 tokens, hence their own limit.
  // An AUTH line with an initial response carries the same tokens (RFC 5034 §4 would have clients
  // send long ones as a continuation, but mail clients put 2 KiB OAuth tokens on the AUTH line).
  const bool sasl_line =
      sasl_ != SaslStep::None || (state_ == State::Authorization && iequals(buffer.substr(0, 5), "AUTH "));
  const size_t limit = sasl_line ? options_.limits.max_sasl_line : options_.limits.max_command_line;
  const size_t lf = buffer.find('\n');
  if (lf == std::string_view::npos) {
    // The LF still to come would take the line past the limit: answer now, so a client
    // cannot make us buffer an endless line.
    if (buffer.empty() || buffer.size() < limit) return false;
    input_pos_ = input_.size();
    discarding_long_line_ = true;
    reject_long_line();
    return true;
  }
  input_pos_ += lf + 1;
  if (lf + 1 > limit) {  // the limit counts the line ending
    reject_long_line();
    return true;
  }
  std::string_view line = buffer.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // a bare LF ends a line too
  const Verdict verdict = dispatch(line);
  record_dispatched(verdict);  // before count(), which may close the session
  count(verdict);
  return true;
}

void Pop3Server::reject_long_line() {
  if (sasl_ != SaslStep::None) {
    sasl_ = SaslStep::None;  // the -ERR ends the SASL exchange too
    oauth_.reset();
    current_command_ = "AUTH";
  } else {
    current_command_ = kUnknownKeyword;
  }
  reply("-ERR Line too long.");
  record(current_command_, CommandMark::Began);
  in_flight_ = {};  // an AUTH waiting for its continuation ends with this line
  record(current_command_, CommandMark::Err);
  count(Verdict::Rejected);
}

Pop3Server::Verdict Pop3Server::dispatch(std::string_view line) {
  switch (sasl_) {
    case SaslStep::None:
      break;
    case SaslStep::PlainResponse:
      current_command_ = "AUTH";
      return sasl_plain_response(trim_spaces(line), false);
    case SaslStep::OAuthResponse:
      current_command_ = "AUTH";
      return sasl_oauth_response(trim_spaces(line), false);
    case SaslStep::OAuthErrorAck:
      current_command_ = "AUTH";
      return sasl_oauth_error_ack();
  }
  const std::optional<Pop3Command> command = parse_command(line);
  if (!command) {
    current_command_ = kUnknownKeyword;
    return reject("-ERR Unknown command.");
  }
  const CommandEntry* entry = find_command(command->keyword);
  if (entry == nullptr) {
    current_command_ = kUnknownKeyword;
    return reject(unknown_command_reply(command->keyword));
  }
  current_command_ = entry->keyword;
  const bool allowed = state_ == State::Authorization ? entry->in_authorization : entry->in_transaction;
  if (!allowed) {
    return reject(state_ == State::Authorization ? kWrongStateBeforeLogin : kWrongStateAfterLogin);
  }
  return (this->*entry->handler)(*command);
}

void Pop3Server::count(Verdict verdict) {
  if (state_ == State::Closed) return;
  if (verdict == Verdict::Accepted) bad_commands_ = 0;
  if (verdict != Verdict::Rejected) return;
  ++bad_commands_;
  const unsigned allowed = state_ == State::Authorization ? options_.limits.max_bad_commands_before_login
                                                          : options_.limits.max_bad_commands_after_login;
  // "Exceeds", as Dovecot's pop3 counts: with a limit of 3, three bad commands in a row are
  // answered and the fourth closes the session, after its own -ERR.
  if (bad_commands_ > allowed) close_session("-ERR Too many bad commands.", CloseReason::TooManyBadCommands);
}

void Pop3Server::record(std::string_view keyword, CommandMark mark) {
  if (records_.size() < kMaxCommandRecords) records_.push_back({keyword, mark});
}

// After a command line was dispatched: its command has ended, or waits for a
// continuation line (AUTH) or for the completion of the action it queued.
void Pop3Server::record_dispatched(Verdict verdict) {
  record(current_command_, CommandMark::Began);
  in_flight_ = {};  // only an AUTH continuation line arrives with a command in flight
  if (sasl_ != SaslStep::None || pending_ != Pending::None) {
    in_flight_ = current_command_;
    return;
  }
  // Accepted commands answer +OK; rejected ones and a cancelled AUTH (Neutral) answer -ERR.
  record(current_command_, verdict == Verdict::Accepted ? CommandMark::Ok : CommandMark::Err);
}

void Pop3Server::complete_in_flight(CommandMark mark) {
  if (in_flight_.empty()) return;
  record(in_flight_, mark);
  in_flight_ = {};
}

void Pop3Server::reply(std::string_view line) {
  std::string bytes(line);
  bytes += kCrlf;
  queued_.push_back(SendReply{std::move(bytes)});
}

Pop3Server::Verdict Pop3Server::reject(std::string_view line) {
  reply(line);
  return Verdict::Rejected;
}

// Ends the session: replies already queued go out, then `last_reply`, then Close forever.
// Actions not yet handed to the session are dropped, so nothing is deleted or fetched.
void Pop3Server::close_session(std::string_view last_reply, CloseReason reason) {
  if (state_ == State::Closed) return;
  complete_in_flight(CommandMark::Err);  // a command still waiting on its action was cut off
  close_reason_ = reason;
  std::erase_if(queued_, [](const Event& event) { return !std::holds_alternative<SendReply>(event); });
  if (!last_reply.empty()) reply(last_reply);
  state_ = State::Closed;
  pending_ = Pending::None;
  sasl_ = SaslStep::None;
  oauth_.reset();
  retrieving_.reset();
  wipe(input_);
  input_pos_ = 0;
  discarding_long_line_ = false;
}

// ---- Completions. Each is ignored unless its action is the one in flight, so a late
// completion after idle_timeout() or shutdown() is harmless. ----

void Pop3Server::auth_succeeded(std::vector<MessageListing> listing) {
  if (pending_ != Pending::Auth) return;
  pending_ = Pending::None;
  oauth_.reset();
  complete_in_flight(CommandMark::Ok);
  listing_ = std::move(listing);
  deleted_.assign(listing_.size(), false);
  state_ = State::Transaction;  // RFC 1939 §4: the maildrop is now locked and frozen
  bad_commands_ = 0;
  reply("+OK Logged in.");
}

void Pop3Server::auth_failed(ErrorKind kind) {
  if (pending_ != Pending::Auth) return;
  pending_ = Pending::None;
  if (kind == ErrorKind::Auth && oauth_) {
    // RFC 7628 §3.2.2: a refused token first gets the error challenge; the -ERR follows the
    // client's answer (sasl_oauth_error_ack), and the AUTH command stays in flight until then.
    sasl_ = SaslStep::OAuthErrorAck;
    reply("+ " + sasl::error_challenge(*oauth_));
    return;
  }
  oauth_.reset();
  complete_in_flight(CommandMark::Err);
  // RFC 2449 §8 and RFC 3206: the response code tells the client whether to retry.
  switch (kind) {
    case ErrorKind::Auth:
      reply("-ERR [AUTH] Authentication failed.");
      break;
    case ErrorKind::InUse:
      reply("-ERR [IN-USE] Mailbox is locked by another POP3 session.");
      break;
    case ErrorKind::Permanent:
      reply("-ERR [SYS/PERM] Mailbox unavailable.");
      break;
    case ErrorKind::LoginDelay:
      reply("-ERR [LOGIN-DELAY] Too many attempts; try again later.");
      break;
    default:
      reply(kTemporaryFailure);
      break;
  }
}

std::string Pop3Server::retrieve_started() {
  if (pending_ != Pending::Retrieve || !retrieving_) return {};
  pending_ = Pending::RetrieveStreaming;
  if (retrieving_->top_lines) return "+OK\r\n";
  return "+OK " + std::to_string(listing_[retrieving_->index].size) + " octets\r\n";
}

void Pop3Server::retrieve_finished() {
  if (pending_ != Pending::RetrieveStreaming) return;
  pending_ = Pending::None;
  retrieving_.reset();
  complete_in_flight(CommandMark::Ok);
}

void Pop3Server::retrieve_failed(ErrorKind kind) {
  if (pending_ == Pending::RetrieveStreaming) {
    // Part of the body is out and no status can follow it: only closing tells the client.
    close_session({}, CloseReason::RetrieveFailed);
    return;
  }
  if (pending_ != Pending::Retrieve) return;
  pending_ = Pending::None;
  retrieving_.reset();
  complete_in_flight(CommandMark::Err);
  reply(kind == ErrorKind::NotFound ? "-ERR Message no longer exists upstream." : kTemporaryFailure);
}

void Pop3Server::commit_succeeded() {
  if (pending_ != Pending::Commit) return;
  complete_in_flight(CommandMark::Ok);
  close_session("+OK Logging out.", CloseReason::Quit);
}

void Pop3Server::commit_failed(ErrorKind /*kind*/) {
  if (pending_ != Pending::Commit) return;
  complete_in_flight(CommandMark::Err);
  // RFC 1939 §6: whatever went wrong upstream, the client only learns that some deletions
  // did not happen.
  close_session("-ERR [SYS/TEMP] Some deleted messages were not removed.", CloseReason::UpdateFailed);
}

void Pop3Server::tls_started() {
  if (pending_ != Pending::StartTls) return;
  pending_ = Pending::None;
  complete_in_flight(CommandMark::Ok);
  tls_active_ = true;
  // RFC 2595 §4 and CVE-2011-0411: anything pipelined after STLS arrived in cleartext and
  // must not be executed as if it came through TLS.
  wipe(input_);
  input_pos_ = 0;
  discarding_long_line_ = false;
}

// ---- Session events ----

void Pop3Server::idle_timeout() {
  if (state_ == State::Closed) return;
  // RFC 1939 §3: an autologout timer ends the session without entering UPDATE. In the middle
  // of a body an -ERR would read as message text, so then the connection just closes.
  close_session(pending_ == Pending::RetrieveStreaming ? "" : "-ERR Disconnected for inactivity.",
                CloseReason::IdleTimeout);
}

void Pop3Server::shutdown() {
  if (state_ == State::Closed) return;
  close_session(pending_ == Pending::RetrieveStreaming ? "" : "-ERR [SYS/TEMP] Server shutting down.",
                CloseReason::Shutdown);
}

}  // namespace popgate::pop3
