// Pop3Server's command handlers (RFC 1939 §§4-7, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 and
// RFC 7628 AUTH), one per keyword of the table in pop3_server.cc, and the checks they share.
#include <string>
#include <utility>

#include "protocol/common/wipe.h"
#include "protocol/pop3/pop3_command.h"
#include "protocol/pop3/pop3_server.h"
#include "protocol/pop3/pop3_server_text.h"
#include "protocol/sasl/base64.h"
#include "protocol/sasl/sasl_plain.h"

namespace popgate::pop3 {

bool Pop3Server::plaintext_auth_ok() const {
  return options_.plaintext_auth_allowed || tls_active_;
}

bool Pop3Server::stls_available() const {
  return options_.stls_offered && !tls_active_;
}

Pop3Server::Verdict Pop3Server::reject_plaintext() {
  // RFC 2595 §2.1 and Dovecot's disable_plaintext_auth: no cleartext passwords on the wire.
  std::string line = "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.";
  if (stls_available()) line += " Use STLS first.";
  return reject(line);
}

bool Pop3Server::check_arity(const Pop3Command& command, size_t min, size_t max) {
  if (command.args.size() < min) {
    reply(kMissingArgument);
    return false;
  }
  if (command.args.size() > max) {
    reply(kTooManyArguments);
    return false;
  }
  return true;
}

// RFC 1939 §5: a message number names a message that exists and is not marked as deleted.
std::optional<size_t> Pop3Server::message_index(std::string_view arg) {
  const std::optional<uint64_t> number = parse_number(arg);
  if (!number) {
    reply("-ERR Invalid message number.");
    return std::nullopt;
  }
  if (*number == 0 || *number > listing_.size()) {
    reply("-ERR There's no message " + std::to_string(*number) + ".");
    return std::nullopt;
  }
  const auto index = static_cast<size_t>(*number - 1);
  if (deleted_[index]) {
    reply("-ERR Message is deleted.");
    return std::nullopt;
  }
  return index;
}

// ---- AUTHORIZATION ----

Pop3Server::Verdict Pop3Server::cmd_user(const Pop3Command& command) {
  // RFC 1939 §7, USER. Dovecot counts a refused plaintext USER as a bad command too.
  if (!plaintext_auth_ok()) return reject_plaintext();
  const std::string_view name = trim_spaces(command.rest);
  if (name.empty()) return reject(kMissingArgument);
  user_ = name;
  reply("+OK");
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_pass(const Pop3Command& command) {
  // RFC 1939 §7, PASS: the argument is the rest of the line, spaces and all.
  if (!plaintext_auth_ok()) return reject_plaintext();
  if (user_.empty()) return reject("-ERR No username given.");
  if (command.rest.empty()) return reject(kMissingArgument);
  // The name is used up: after a failure the client must send USER again.
  queued_.push_back(Authenticate{"USER", std::exchange(user_, {}), SecretString(command.rest)});
  pending_ = Pending::Auth;
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_auth(const Pop3Command& command) {
  if (command.args.empty()) {
    // AUTH without a mechanism lists them (RFC 1734 practice; Dovecot and Outlook use it).
    reply(plaintext_auth_ok() ? "+OK\r\nPLAIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n." : "+OK\r\n.");
    return Verdict::Accepted;
  }
  if (command.args.size() > 2) return reject(kTooManyArguments);
  const std::string_view mechanism = command.args[0];
  std::optional<sasl::OAuthMechanism> oauth;
  if (iequals(mechanism, "XOAUTH2")) {
    oauth = sasl::OAuthMechanism::Xoauth2;
  } else if (iequals(mechanism, "OAUTHBEARER")) {
    oauth = sasl::OAuthMechanism::Oauthbearer;
  } else if (!iequals(mechanism, "PLAIN")) {
    return reject("-ERR Unsupported authentication mechanism.");
  }
  // Bearer tokens are replayable secrets just like passwords: the same TLS policy applies.
  if (!plaintext_auth_ok()) return reject_plaintext();
  oauth_ = oauth;
  // RFC 5034 §4: the optional second argument is the initial response.
  if (command.args.size() == 2) {
    return oauth_ ? sasl_oauth_response(command.args[1], true) : sasl_plain_response(command.args[1], true);
  }
  sasl_ = oauth_ ? SaslStep::OAuthResponse : SaslStep::PlainResponse;
  reply("+ ");  // RFC 5034 §4: an empty server challenge
  return Verdict::Accepted;
}

// XOAUTH2 (Google's format) or OAUTHBEARER (RFC 7628 §3.1), as an initial response or after "+ ".
Pop3Server::Verdict Pop3Server::sasl_oauth_response(std::string_view response, bool initial) {
  sasl_ = SaslStep::None;
  const sasl::OAuthMechanism mechanism = *oauth_;
  if (!initial && response == "*") {  // RFC 5034 §4: the client cancels
    oauth_.reset();
    reply("-ERR Authentication cancelled.");
    return Verdict::Neutral;
  }
  std::optional<std::string> decoded = sasl::base64_decode(response);
  if (!decoded) {
    oauth_.reset();
    return reject("-ERR Invalid base64 data.");
  }
  Result<sasl::BearerCredentials> credentials = sasl::parse_oauth(mechanism, *decoded);
  wipe(*decoded);
  if (!credentials) {
    oauth_.reset();
    return reject(std::string("-ERR [AUTH] Invalid SASL ") + sasl::to_string(mechanism) + " response.");
  }
  if (credentials.value().user.empty()) {
    // RFC 7628 §3.1 makes a= optional, but the upstream login and the maildrop lock need the
    // user name, and Dovecot refuses OAUTHBEARER without it too.
    oauth_.reset();
    return reject("-ERR [AUTH] OAUTHBEARER needs the user name in a=.");
  }
  queued_.push_back(Authenticate{sasl::to_string(mechanism), std::move(credentials.value().user),
                                 std::move(credentials.value().token)});
  pending_ = Pending::Auth;
  return Verdict::Accepted;
}

// RFC 7628 §3.2.3: whatever the client answers to the error challenge (AQ==, an empty line for
// XOAUTH2, "*"), the exchange ends in failure.
Pop3Server::Verdict Pop3Server::sasl_oauth_error_ack() {
  sasl_ = SaslStep::None;
  oauth_.reset();
  reply("-ERR [AUTH] Authentication failed.");
  return Verdict::Neutral;
}

Pop3Server::Verdict Pop3Server::sasl_plain_response(std::string_view response, bool initial) {
  sasl_ = SaslStep::None;
  // RFC 5034 §4: "*" as a continuation line cancels the exchange. Not a bad command: the
  // client followed the protocol.
  if (!initial && response == "*") {
    reply("-ERR Authentication cancelled.");
    return Verdict::Neutral;
  }
  // RFC 5034 §4: "=" as the initial response stands for an empty one.
  std::optional<std::string> decoded =
      initial && response == "=" ? std::optional<std::string>(std::string()) : sasl::base64_decode(response);
  if (!decoded) return reject("-ERR Invalid base64 data.");
  std::optional<sasl::PlainCredentials> credentials = sasl::parse_plain(*decoded);
  wipe(*decoded);
  if (!credentials) return reject("-ERR [AUTH] Invalid SASL PLAIN response.");
  // RFC 4616 §2: acting as another user needs a policy we do not have; acting as oneself is
  // the same as no authzid.
  if (!credentials->authzid.empty() && credentials->authzid != credentials->authcid) {
    return reject("-ERR [AUTH] Authorization identity not supported.");
  }
  queued_.push_back(Authenticate{"PLAIN", std::move(credentials->authcid), std::move(credentials->password)});
  pending_ = Pending::Auth;
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_stls(const Pop3Command& command) {
  if (tls_active_) return reject("-ERR TLS already active.");
  if (!options_.stls_offered) {  // without a certificate the command does not exist here
    current_command_ = kUnknownKeyword;
    return reject(unknown_command_reply(command.keyword));
  }
  // RFC 2595 §4: STLS is only valid in the AUTHORIZATION state.
  if (state_ != State::Authorization) return reject(kWrongStateBeforeLogin);
  if (!check_arity(command, 0, 0)) return Verdict::Rejected;
  reply("+OK Begin TLS negotiation now.");
  queued_.push_back(StartTls{});
  pending_ = Pending::StartTls;
  return Verdict::Accepted;
}

// ---- Both states ----

Pop3Server::Verdict Pop3Server::cmd_capa(const Pop3Command& command) {
  if (!check_arity(command, 0, 0)) return Verdict::Rejected;
  // RFC 2449 §5: the list depends on the state, as §6 allows.
  const bool authorization = state_ == State::Authorization;
  std::string lines =
      "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  if (authorization && plaintext_auth_ok()) lines += "USER\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n";
  if (authorization && stls_available()) lines += "STLS\r\n";  // RFC 2595 §4
  std::string implementation;
  for (const char c : options_.implementation) {
    if (c >= ' ' && c < '\x7f') implementation += c;  // configuration text must not break the list
  }
  if (!implementation.empty()) lines += "IMPLEMENTATION " + implementation + "\r\n";
  lines += kEndOfList;
  queued_.push_back(SendReply{std::move(lines)});
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_quit(const Pop3Command& command) {
  if (!check_arity(command, 0, 0)) return Verdict::Rejected;
  if (state_ == State::Authorization) {
    close_session("+OK Logging out.", CloseReason::Quit);  // RFC 1939 §4: no UPDATE before login
    return Verdict::Accepted;
  }
  // RFC 1939 §6: QUIT from TRANSACTION enters UPDATE and removes the marked messages.
  Commit commit;
  for (size_t i = 0; i < deleted_.size(); ++i) {
    if (deleted_[i]) commit.deleted.push_back(i);
  }
  state_ = State::Update;
  pending_ = Pending::Commit;
  queued_.push_back(std::move(commit));
  return Verdict::Accepted;
}

// ---- TRANSACTION ----

Pop3Server::Verdict Pop3Server::cmd_stat(const Pop3Command& command) {
  // RFC 1939 §5, STAT: messages marked as deleted are not counted.
  if (!check_arity(command, 0, 0)) return Verdict::Rejected;
  uint64_t count = 0;
  uint64_t octets = 0;
  for (size_t i = 0; i < listing_.size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    octets += listing_[i].size;
  }
  reply("+OK " + std::to_string(count) + " " + std::to_string(octets));
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_list(const Pop3Command& command) {
  // RFC 1939 §5, LIST [msg]
  if (!check_arity(command, 0, 1)) return Verdict::Rejected;
  if (command.args.size() == 1) {
    const std::optional<size_t> index = message_index(command.args[0]);
    if (!index) return Verdict::Rejected;
    reply("+OK " + std::to_string(*index + 1) + " " + std::to_string(listing_[*index].size));
    return Verdict::Accepted;
  }
  std::string body;
  size_t count = 0;
  for (size_t i = 0; i < listing_.size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    body += std::to_string(i + 1) + " " + std::to_string(listing_[i].size) + "\r\n";
  }
  std::string lines = "+OK " + std::to_string(count) + " messages:\r\n" + body;
  lines += kEndOfList;
  queued_.push_back(SendReply{std::move(lines)});
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_uidl(const Pop3Command& command) {
  // RFC 1939 §7, UIDL [msg]
  if (!check_arity(command, 0, 1)) return Verdict::Rejected;
  if (command.args.size() == 1) {
    const std::optional<size_t> index = message_index(command.args[0]);
    if (!index) return Verdict::Rejected;
    reply("+OK " + std::to_string(*index + 1) + " " + listing_[*index].uidl);
    return Verdict::Accepted;
  }
  std::string lines = "+OK\r\n";
  for (size_t i = 0; i < listing_.size(); ++i) {
    if (!deleted_[i]) lines += std::to_string(i + 1) + " " + listing_[i].uidl + "\r\n";
  }
  lines += kEndOfList;
  queued_.push_back(SendReply{std::move(lines)});
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_retr(const Pop3Command& command) {
  // RFC 1939 §5, RETR msg
  if (!check_arity(command, 1, 1)) return Verdict::Rejected;
  const std::optional<size_t> index = message_index(command.args[0]);
  if (!index) return Verdict::Rejected;
  retrieving_ = Retrieve{*index, std::nullopt};
  queued_.push_back(*retrieving_);
  pending_ = Pending::Retrieve;
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_top(const Pop3Command& command) {
  // RFC 1939 §7, TOP msg n: n is a non-negative number of body lines.
  if (!check_arity(command, 2, 2)) return Verdict::Rejected;
  const std::optional<size_t> index = message_index(command.args[0]);
  if (!index) return Verdict::Rejected;
  const std::optional<uint64_t> lines = parse_number(command.args[1]);
  if (!lines) return reject("-ERR Invalid number of lines.");
  retrieving_ = Retrieve{*index, *lines};
  queued_.push_back(*retrieving_);
  pending_ = Pending::Retrieve;
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_dele(const Pop3Command& command) {
  // RFC 1939 §5, DELE msg: only marks; UPDATE does the removing.
  if (!check_arity(command, 1, 1)) return Verdict::Rejected;
  const std::optional<size_t> index = message_index(command.args[0]);
  if (!index) return Verdict::Rejected;
  deleted_[*index] = true;
  reply("+OK Marked to be deleted.");
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_noop(const Pop3Command& command) {
  // RFC 1939 §5, NOOP
  if (!check_arity(command, 0, 0)) return Verdict::Rejected;
  reply("+OK");
  return Verdict::Accepted;
}

Pop3Server::Verdict Pop3Server::cmd_rset(const Pop3Command& command) {
  // RFC 1939 §5, RSET: unmark every message marked as deleted.
  if (!check_arity(command, 0, 0)) return Verdict::Rejected;
  std::fill(deleted_.begin(), deleted_.end(), false);
  reply("+OK");
  return Verdict::Accepted;
}

}  // namespace popgate::pop3
