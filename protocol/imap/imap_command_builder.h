// ImapCommandBuilder: builds tagged IMAP commands with correct quoting (RFC 3501 §4, §9).
//
// Strings go out as atoms when safe, quoted strings when printable 7-bit, and literals
// otherwise (CR, LF, NUL, 8-bit). A synchronising literal splits a command into parts:
// the client must wait for a "+" continuation before each later part. With LITERAL+
// (RFC 7888) the whole command is one part.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/common/secret.h"
#include "protocol/sasl/oauth_bearer.h"

namespace popgate::imap {

struct Command {
  std::string tag;
  // parts[0] is sent at once; each later part only after a "+" continuation.
  // Every part but the last ends in a literal announcement "{n}\r\n"; the last ends in CRLF.
  std::vector<std::string> parts;
  bool sensitive = false;  // carries credentials: never log the parts
  // For a sensitive (SASL) command, the line that answers a server challenge after the last part:
  // "*" cancels (RFC 3501 §6.2.2); XOAUTH2/OAUTHBEARER answer the error challenge with the
  // acknowledgement the server waits for before its tagged NO (RFC 7628 §3.2.3). Sent once.
  std::string challenge_answer = "*";
  std::string summary;  // what the logs may say, e.g. "UID FETCH 7 (BODY.PEEK[])"
};

class ImapCommandBuilder {
 public:
  explicit ImapCommandBuilder(std::string tag_prefix = "p");

  // Server capabilities that change how commands are built.
  void set_literal_plus(bool on) { literal_plus_ = on; }  // LITERAL+ (RFC 7888)
  void set_utf8_accept(bool on) { utf8_accept_ = on; }    // UTF8=ACCEPT (RFC 6855)

  Command capability();
  Command noop();
  Command logout();
  Command starttls();
  Command login(std::string_view user, const SecretString& password);
  // AUTHENTICATE PLAIN: with SASL-IR (RFC 4959) the response rides on the command;
  // without it, parts[1] is the base64 response sent after the "+" continuation.
  Command authenticate_plain(std::string_view user, const SecretString& password, bool sasl_ir);
  // AUTHENTICATE XOAUTH2 / OAUTHBEARER with a bearer token, in the same two forms (the second is
  // the one Exchange Online expects when it does not offer SASL-IR).
  Command authenticate_oauth(sasl::OAuthMechanism mechanism, std::string_view user, const SecretString& token,
                             bool sasl_ir);
  Command select(std::string_view mailbox);
  Command examine(std::string_view mailbox);
  // Items, actions and criteria go out verbatim: they are protocol text from the adapter,
  // e.g. "(UID RFC822.SIZE)", "+FLAGS.SILENT (\\Deleted)", "DELETED"; never user input.
  Command uid_fetch(std::string_view uid_set, std::string_view items);
  Command uid_store(std::string_view uid_set, std::string_view action);
  Command uid_expunge(std::string_view uid_set);                         // UIDPLUS (RFC 4315)
  Command uid_move(std::string_view uid_set, std::string_view mailbox);  // MOVE (RFC 6851)
  Command uid_copy(std::string_view uid_set, std::string_view mailbox);
  Command uid_search(std::string_view criteria);
  Command expunge();

  // A mailbox name as an IMAP argument: modified UTF-7 (RFC 3501 §5.1.3) unless UTF8=ACCEPT.
  std::string encode_mailbox(std::string_view utf8_name) const;

 private:
  std::string next_tag();
  // Appends `value` to the command as an astring; starts a new part for a synchronising literal.
  void append_string(Command& command, std::string_view value) const;
  // Appends " MAILBOX" (encoded as encode_mailbox does) to the command and to its summary.
  void append_mailbox(Command& command, std::string_view mailbox) const;

  std::string tag_prefix_;
  uint64_t next_tag_number_ = 1;
  bool literal_plus_ = false;
  bool utf8_accept_ = false;
};

// Compresses ascending UIDs into sequence sets ("1:5,7,9:10"), each at most `max_length`
// octets, so that huge deletions go out as several bounded commands.
std::vector<std::string> make_uid_sets(const std::vector<uint32_t>& ascending_uids, size_t max_length = 4000);

// The RFC 3501 date of SEARCH SINCE ("7-Nov-2026"): the UTC day `unix_seconds` falls in.
std::string search_date(int64_t unix_seconds);

// Modified UTF-7 for mailbox names (RFC 3501 §5.1.3).
std::string encode_modified_utf7(std::string_view utf8);

}  // namespace popgate::imap
