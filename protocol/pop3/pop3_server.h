// Pop3Server: the RFC 1939 / 2449 / 5034 server state machine, sans I/O.
//
// Bytes from the client go in through receive(); the session then calls next_event()
// until it returns NeedInput or Waiting, and acts on each event in order (h11's shape).
// Actions that need the mailbox (Authenticate, Retrieve, Commit, StartTls) suspend
// command processing until the session reports the outcome through the matching
// completion method; pipelined commands stay buffered meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/common/error.h"
#include "protocol/common/secret.h"
#include "protocol/sasl/oauth_bearer.h"

namespace popgate::pop3 {

struct Pop3Command;

enum class State { Authorization, Transaction, Update, Closed };

// Why the server ended the session, for the session's log line.
enum class CloseReason {
  None,
  Quit,
  TooManyBadCommands,
  UpdateFailed,
  RetrieveFailed,
  IdleTimeout,
  Shutdown
};
const char* to_string(CloseReason reason);

struct Limits {
  size_t max_command_line = 512;               // octets incl. CRLF (RFC 2449 §4 allows 255 per argument)
  size_t max_sasl_line = 16 * 1024;            // AUTH continuation lines carry base64 tokens
  unsigned max_bad_commands_before_login = 3;  // consecutive; Dovecot's pop3-login value
  unsigned max_bad_commands_after_login = 20;  // consecutive; Dovecot's pop3 value
  size_t max_buffered_input = 64 * 1024;       // the session stops reading the socket above this
};

struct Options {
  Limits limits;
  bool stls_offered = false;           // a certificate is configured and TLS is not active yet
  bool plaintext_auth_allowed = true;  // false on a non-TLS, non-loopback connection by default
  std::string implementation = "popgate";
};

// What the server knows of each message of the frozen maildrop, numbered from 1.
struct MessageListing {
  uint64_t size = 0;  // octets as RETR sends them before dot-stuffing (CRLF line ends)
  std::string uidl;   // RFC 1939 §7: 1..70 characters in 0x21..0x7E
};

// ---- Events: what the session must do next ----
struct NeedInput {};  // every buffered command answered; read more from the client
struct Waiting {};    // an action is in flight; call its completion method first
struct SendReply {    // write these bytes to the client
  std::string bytes;
};
struct Authenticate {     // log in upstream with these credentials, then auth_succeeded() or
  std::string mechanism;  // auth_failed(). "USER" (USER/PASS), "PLAIN", "XOAUTH2", "OAUTHBEARER"
  std::string user;       // authentication identity (authcid; XOAUTH2 user=, OAUTHBEARER a=)
  SecretString password;  // for XOAUTH2 and OAUTHBEARER: the bearer token (RFC 6750)
  bool bearer_token() const { return mechanism == "XOAUTH2" || mechanism == "OAUTHBEARER"; }
};
struct Retrieve {                     // fetch message `index` (0-based) and stream it: call
  size_t index = 0;                   // retrieve_started(), write the body through a DotStuffer
  std::optional<uint64_t> top_lines;  // (TopFilter first when set), then retrieve_finished()
};                                    // or retrieve_failed().
struct Commit {                       // QUIT in TRANSACTION: apply the deletions (0-based, ascending),
  std::vector<size_t> deleted;        // then commit_succeeded() or commit_failed().
};
struct StartTls {};  // "+OK" was sent; start the handshake, then tls_started()
struct Close {};     // flush pending replies, then close the connection

using Event = std::variant<NeedInput, Waiting, SendReply, Authenticate, Retrieve, Commit, StartTls, Close>;

// ---- Command records: what the server did with each command, for metrics ----
// The server has no clock: the session timestamps records as it drains them. A line taken off
// the input is Began; its command is Ok or Err once its final reply is queued: at once for most
// commands, from the completion method for PASS, AUTH, RETR, TOP, STLS and QUIT in TRANSACTION.
// An AUTH continuation line begins again (the client's typing time between the lines is not
// the server's). A command cut off by idle_timeout() or shutdown() ends Err; an STLS whose
// handshake fails never ends (the session is closed instead).
enum class CommandMark { Began, Ok, Err };
struct CommandRecord {
  std::string_view keyword;  // "RETR", ..., "UNKNOWN": static storage, valid forever
  CommandMark mark = CommandMark::Began;
};
// Records kept between two drains; a user that never drains stops recording at this size.
inline constexpr size_t kMaxCommandRecords = 64;

class Pop3Server {
 public:
  explicit Pop3Server(Options options);

  // The greeting line to send when the connection opens.
  std::string greeting() const;

  // Bytes from the client. Buffered until consumed by next_event().
  void receive(std::string_view data);
  size_t buffered_input() const { return input_.size() - input_pos_; }
  bool wants_input() const { return buffered_input() < options_.limits.max_buffered_input; }

  Event next_event();

  // ---- Completions of the actions above ----
  void auth_succeeded(std::vector<MessageListing> listing);
  void auth_failed(ErrorKind kind);
  // Returns the status line ("+OK 1234 octets\r\n") to write before the body.
  std::string retrieve_started();
  void retrieve_finished();
  // Before retrieve_started(): queues an -ERR and goes on. After it: the body is cut,
  // so the server closes (the session drops the connection).
  void retrieve_failed(ErrorKind kind);
  void commit_succeeded();
  void commit_failed(ErrorKind kind);
  void tls_started();

  // ---- Things that happen to the session, not commands ----
  void idle_timeout();  // autologout without entering UPDATE (RFC 1939 §3)
  void shutdown();      // the server is going away: nothing is deleted

  State state() const { return state_; }
  CloseReason close_reason() const { return close_reason_; }
  const std::vector<MessageListing>& listing() const { return listing_; }
  bool is_deleted(size_t index) const { return index < deleted_.size() && deleted_[index]; }
  bool tls_active() const { return tls_active_; }
  // The command keyword being processed, upper-case ("RETR"), for logs and metrics.
  std::string_view current_command() const { return current_command_; }
  // Records since the last clear_command_records(), oldest first.
  const std::vector<CommandRecord>& command_records() const { return records_; }
  void clear_command_records() { records_.clear(); }
  // The whole input buffer up to its capacity, consumed and spare octets included: tests check
  // that no password survives its command (the buffer allocates capacity + 1 octets).
  std::string_view input_memory_for_testing() const { return {input_.data(), input_.capacity()}; }

 private:
  // Private state; the implementation may add helpers and members here.
  enum class Pending { None, Auth, Retrieve, RetrieveStreaming, Commit, StartTls };
  // Which line the server waits for inside an AUTH exchange.
  enum class SaslStep {
    None,
    PlainResponse,  // RFC 5034 §4: the base64 PLAIN response after "+ "
    OAuthResponse,  // the base64 XOAUTH2/OAUTHBEARER response after "+ " (oauth_ says which)
    OAuthErrorAck,  // RFC 7628 §3.2.3: the client's answer to the error challenge
  };
  // How one command line counts toward the consecutive bad-command limit.
  enum class Verdict { Accepted, Rejected, Neutral };
  using Handler = Verdict (Pop3Server::*)(const Pop3Command&);
  struct CommandEntry;  // one row of the dispatch table in pop3_server.cc
  static const CommandEntry* find_command(std::string_view keyword);

  bool process_next_line();
  void reject_long_line();
  Verdict dispatch(std::string_view line);
  void count(Verdict verdict);
  void reply(std::string_view line);
  Verdict reject(std::string_view line);
  void close_session(std::string_view last_reply, CloseReason reason);
  bool plaintext_auth_ok() const;
  bool stls_available() const;
  Verdict reject_plaintext();
  bool check_arity(const Pop3Command& command, size_t min, size_t max);
  std::optional<size_t> message_index(std::string_view arg);
  Verdict sasl_plain_response(std::string_view response, bool initial);
  Verdict sasl_oauth_response(std::string_view response, bool initial);
  Verdict sasl_oauth_error_ack();
  void record(std::string_view keyword, CommandMark mark);
  void record_dispatched(Verdict verdict);
  void complete_in_flight(CommandMark mark);

  Verdict cmd_user(const Pop3Command& command);
  Verdict cmd_pass(const Pop3Command& command);
  Verdict cmd_auth(const Pop3Command& command);
  Verdict cmd_stls(const Pop3Command& command);
  Verdict cmd_capa(const Pop3Command& command);
  Verdict cmd_quit(const Pop3Command& command);
  Verdict cmd_stat(const Pop3Command& command);
  Verdict cmd_list(const Pop3Command& command);
  Verdict cmd_uidl(const Pop3Command& command);
  Verdict cmd_retr(const Pop3Command& command);
  Verdict cmd_top(const Pop3Command& command);
  Verdict cmd_dele(const Pop3Command& command);
  Verdict cmd_noop(const Pop3Command& command);
  Verdict cmd_rset(const Pop3Command& command);

  Options options_;
  State state_ = State::Authorization;
  CloseReason close_reason_ = CloseReason::None;
  Pending pending_ = Pending::None;
  SaslStep sasl_ = SaslStep::None;
  // The OAuth mechanism of the AUTH exchange in progress, so a refused token gets its
  // RFC 7628 §3.2.2 error challenge before the -ERR.
  std::optional<sasl::OAuthMechanism> oauth_;
  bool tls_active_ = false;
  bool discarding_long_line_ = false;  // an over-long line was answered; skip to its LF
  unsigned bad_commands_ = 0;          // consecutive
  std::string input_;
  size_t input_pos_ = 0;
  std::string user_;
  std::string_view current_command_;  // always a static keyword (the table's, "AUTH", "UNKNOWN")
  std::string_view in_flight_;        // the command waiting on its completion method, if any
  std::vector<CommandRecord> records_;
  std::vector<MessageListing> listing_;
  std::vector<bool> deleted_;
  std::optional<Retrieve> retrieving_;
  std::deque<Event> queued_;  // replies produced by completions, emitted before new commands
};

}  // namespace popgate::pop3
