// ImapCommandBuilder: tagged IMAP commands with their arguments quoted for the wire.
#include "protocol/imap/imap_command_builder.h"

#include <ctime>
#include <string>
#include <utility>

#include "protocol/common/str_cat.h"
#include "protocol/common/wipe.h"
#include "protocol/sasl/base64.h"

namespace popgate::imap {
namespace {

// Longer strings go out as literals: servers cap line length (Dovecot: 64 KiB) and a
// literal keeps the command line itself short (RFC 7162 §4 recommends 8000 octets).
constexpr size_t kMaxQuotedLength = 1000;

// What the logs show in place of credentials.
constexpr std::string_view kRedacted = "***";

// RFC 3501 §9: ATOM-CHAR = any CHAR except atom-specials
// ("(" / ")" / "{" / SP / CTL / "%" / "*" / DQUOTE / "\" / "]"); CHAR is 7-bit.
bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '%':
    case '*':
    case '"':
    case '\\':
    case ']':
      return false;
    default:
      return true;
  }
}

bool iequals_nil(std::string_view value) {
  return value.size() == 3 && (value[0] == 'N' || value[0] == 'n') && (value[1] == 'I' || value[1] == 'i') &&
         (value[2] == 'L' || value[2] == 'l');
}

enum class StringForm { Atom, Quoted, Literal };

StringForm form_of(std::string_view value) {
  if (value.size() > kMaxQuotedLength) return StringForm::Literal;
  bool atom = !value.empty();
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    // RFC 3501 §9: QUOTED-CHAR excludes CR and LF; 8-bit and NUL need a literal (NUL is
    // refused even there, see append_string).
    if (u < 0x20 || u >= 0x7f) return StringForm::Literal;
    atom = atom && is_atom_char(c);
  }
  // The atom NIL would be read as nil, not as the string "NIL" (Dovecot rejects it as an
  // astring), so it is quoted.
  if (atom && !iequals_nil(value)) return StringForm::Atom;
  return StringForm::Quoted;
}

std::string quote(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');  // RFC 3501 §9 quoted-specials
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// How a string argument appears in a summary: as sent when it fits on the line,
// "{n}" for a literal so that CR, LF and raw 8-bit never reach a log line.
std::string summarize_string(std::string_view value) {
  switch (form_of(value)) {
    case StringForm::Atom:
      return std::string(value);
    case StringForm::Quoted:
      return quote(value);
    case StringForm::Literal:
      break;
  }
  return str_cat("{", std::to_string(value.size()), "}");
}

// Appends an argument that goes out exactly as given (UID sets, FETCH items, criteria).
void append_verbatim(Command& command, std::string_view text) {
  command.parts.back().append(text);
  command.summary.append(text);
}

void finish(Command& command) {
  command.parts.back().append("\r\n");
}

// Starts "TAG NAME" with the summary "NAME".
Command start(std::string tag, std::string_view name) {
  Command command;
  command.tag = std::move(tag);
  command.parts.push_back(command.tag + " " + std::string(name));
  command.summary = std::string(name);
  return command;
}

Command simple(std::string tag, std::string_view name) {
  Command command = start(std::move(tag), name);
  finish(command);
  return command;
}

// Decodes one UTF-8 sequence at `pos`; invalid or overlong input yields U+FFFD for one octet.
char32_t next_code_point(std::string_view text, size_t& pos) {
  constexpr char32_t kReplacement = 0xFFFD;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  size_t length = 0;
  char32_t cp = 0;
  char32_t minimum = 0;
  if (lead < 0x80) {
    ++pos;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, minimum = 0x10000;
  } else {
    ++pos;
    return kReplacement;
  }
  if (pos + length > text.size()) {
    ++pos;
    return kReplacement;
  }
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) {
      ++pos;
      return kReplacement;
    }
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  if (cp < minimum || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return kReplacement;
  }
  pos += length;
  return cp;
}

// RFC 3501 §5.1.3: modified BASE64 of UTF-16BE, "," in place of "/", no padding.
void append_modified_base64(std::string& out, const std::string& utf16) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
  uint32_t bits = 0;
  int count = 0;
  for (char c : utf16) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kAlphabet[(bits >> count) & 0x3F]);
    }
  }
  if (count > 0) out.push_back(kAlphabet[(bits << (6 - count)) & 0x3F]);
}

void append_utf16be(std::string& out, char32_t cp) {
  auto unit = [&](uint32_t u) {
    out.push_back(static_cast<char>(u >> 8));
    out.push_back(static_cast<char>(u & 0xFF));
  };
  if (cp >= 0x10000) {
    cp -= 0x10000;
    unit(0xD800 + (cp >> 10));
    unit(0xDC00 + (cp & 0x3FF));
  } else {
    unit(cp);
  }
}

}  // namespace

ImapCommandBuilder::ImapCommandBuilder(std::string tag_prefix) : tag_prefix_(std::move(tag_prefix)) {}

std::string ImapCommandBuilder::next_tag() {
  return tag_prefix_ + std::to_string(next_tag_number_++);
}

// RFC 3501 §6.1.1, §6.1.2, §6.1.3, §6.2.1, RFC 3501 §6.4.3.
Command ImapCommandBuilder::capability() {
  return simple(next_tag(), "CAPABILITY");
}
Command ImapCommandBuilder::noop() {
  return simple(next_tag(), "NOOP");
}
Command ImapCommandBuilder::logout() {
  return simple(next_tag(), "LOGOUT");
}
Command ImapCommandBuilder::starttls() {
  return simple(next_tag(), "STARTTLS");
}
Command ImapCommandBuilder::expunge() {
  return simple(next_tag(), "EXPUNGE");
}

// RFC 3501 §6.2.3: LOGIN userid password, both astrings.
Command ImapCommandBuilder::login(std::string_view user, const SecretString& password) {
  Command command = start(next_tag(), "LOGIN");
  command.sensitive = true;
  command.parts.back().push_back(' ');
  append_string(command, user);
  command.parts.back().push_back(' ');
  append_string(command, password.reveal());
  finish(command);
  command.summary = "LOGIN " + summarize_string(user) + " " + std::string(kRedacted);
  return command;
}

// RFC 4616 PLAIN: base64("" NUL user NUL password) with an empty authorization identity.
// RFC 4959 SASL-IR puts it on the command line; otherwise it follows the "+" (RFC 3501 §6.2.2).
Command ImapCommandBuilder::authenticate_plain(std::string_view user, const SecretString& password,
                                               bool sasl_ir) {
  std::string message;
  message.reserve(user.size() + password.size() + 2);
  message.push_back('\0');
  message.append(user);
  message.push_back('\0');
  message.append(password.reveal());
  std::string response = sasl::base64_encode(message);
  wipe(message);

  Command command = start(next_tag(), "AUTHENTICATE PLAIN");
  command.sensitive = true;
  if (sasl_ir) {
    command.parts.back().append(" ").append(response).append("\r\n");
  } else {
    finish(command);
    command.parts.push_back(response + "\r\n");
  }
  wipe(response);
  command.summary = "AUTHENTICATE PLAIN " + std::string(kRedacted);
  return command;
}

// XOAUTH2 (Google) / OAUTHBEARER (RFC 7628 §3.1) with a bearer token; the forms as for PLAIN.
Command ImapCommandBuilder::authenticate_oauth(sasl::OAuthMechanism mechanism, std::string_view user,
                                               const SecretString& token, bool sasl_ir) {
  const SecretString response = sasl::encode_oauth(mechanism, user, token);
  const std::string name = std::string("AUTHENTICATE ") + sasl::to_string(mechanism);
  Command command = start(next_tag(), name);
  command.sensitive = true;
  command.challenge_answer = std::string(sasl::error_acknowledgement(mechanism));
  if (sasl_ir) {
    command.parts.back().append(" ").append(response.reveal()).append("\r\n");
  } else {
    finish(command);
    command.parts.push_back(std::string(response.reveal()) + "\r\n");
  }
  command.summary = name + " " + std::string(kRedacted);
  return command;
}

// RFC 3501 §6.3.1 SELECT, §6.3.2 EXAMINE.
Command ImapCommandBuilder::select(std::string_view mailbox) {
  Command command = start(next_tag(), "SELECT");
  append_mailbox(command, mailbox);
  finish(command);
  return command;
}

Command ImapCommandBuilder::examine(std::string_view mailbox) {
  Command command = start(next_tag(), "EXAMINE");
  append_mailbox(command, mailbox);
  finish(command);
  return command;
}

void ImapCommandBuilder::append_mailbox(Command& command, std::string_view mailbox) const {
  command.parts.back().push_back(' ');
  const std::string encoded = encode_mailbox(mailbox);
  append_string(command, encoded);
  command.summary.append(" ").append(summarize_string(encoded));
}

// RFC 3501 §6.4.8 UID FETCH; the UID set and items are protocol text built by the
// adapter, never user input, so they go out verbatim.
Command ImapCommandBuilder::uid_fetch(std::string_view uid_set, std::string_view items) {
  Command command = start(next_tag(), "UID FETCH ");
  append_verbatim(command, uid_set);
  append_verbatim(command, " ");
  append_verbatim(command, items);
  finish(command);
  return command;
}

// RFC 3501 §6.4.6 / §6.4.8 UID STORE.
Command ImapCommandBuilder::uid_store(std::string_view uid_set, std::string_view action) {
  Command command = start(next_tag(), "UID STORE ");
  append_verbatim(command, uid_set);
  append_verbatim(command, " ");
  append_verbatim(command, action);
  finish(command);
  return command;
}

// RFC 4315 §2.1 UID EXPUNGE: removes only these \Deleted messages.
Command ImapCommandBuilder::uid_expunge(std::string_view uid_set) {
  Command command = start(next_tag(), "UID EXPUNGE ");
  append_verbatim(command, uid_set);
  finish(command);
  return command;
}

// RFC 6851 §3.2 UID MOVE.
Command ImapCommandBuilder::uid_move(std::string_view uid_set, std::string_view mailbox) {
  Command command = start(next_tag(), "UID MOVE ");
  append_verbatim(command, uid_set);
  append_mailbox(command, mailbox);
  finish(command);
  return command;
}

// RFC 3501 §6.4.7 / §6.4.8 UID COPY.
Command ImapCommandBuilder::uid_copy(std::string_view uid_set, std::string_view mailbox) {
  Command command = start(next_tag(), "UID COPY ");
  append_verbatim(command, uid_set);
  append_mailbox(command, mailbox);
  finish(command);
  return command;
}

// RFC 3501 §6.4.4 / §6.4.8 UID SEARCH.
Command ImapCommandBuilder::uid_search(std::string_view criteria) {
  Command command = start(next_tag(), "UID SEARCH ");
  append_verbatim(command, criteria);
  finish(command);
  return command;
}

std::string ImapCommandBuilder::encode_mailbox(std::string_view utf8_name) const {
  // RFC 6855 §3: after ENABLE UTF8=ACCEPT mailbox names are sent as UTF-8.
  if (utf8_accept_) return std::string(utf8_name);
  return encode_modified_utf7(utf8_name);
}

// RFC 3501 §4.3 / §9 astring. A literal containing NUL is still built (deterministically),
// but RFC 3501 §4.3 forbids NUL even in literals: the server will refuse it, so callers
// must reject such credentials before building a command.
void ImapCommandBuilder::append_string(Command& command, std::string_view value) const {
  switch (form_of(value)) {
    case StringForm::Atom:
      command.parts.back().append(value);
      return;
    case StringForm::Quoted:
      command.parts.back().append(quote(value));
      return;
    case StringForm::Literal:
      break;
  }
  const std::string size = std::to_string(value.size());
  if (literal_plus_) {
    // RFC 7888 §3: a non-synchronising literal needs no "+" from the server.
    command.parts.back().append("{" + size + "+}\r\n").append(value);
  } else {
    // RFC 3501 §7.5: the rest waits for the server's "+" continuation.
    command.parts.back().append("{" + size + "}\r\n");
    command.parts.emplace_back(value);
  }
}

// RFC 3501 §9 sequence-set: ascending runs collapse to "a:b", joined by ",".
std::vector<std::string> make_uid_sets(const std::vector<uint32_t>& ascending_uids, size_t max_length) {
  std::vector<std::string> sets;
  std::string current;
  auto add_item = [&](const std::string& item) {
    // A lone item longer than max_length still goes out alone: it cannot be shortened.
    if (!current.empty() && current.size() + 1 + item.size() > max_length) {
      sets.push_back(std::move(current));
      current.clear();
    }
    if (!current.empty()) current.push_back(',');
    current.append(item);
  };
  size_t i = 0;
  while (i < ascending_uids.size()) {
    const uint32_t first = ascending_uids[i];
    uint32_t last = first;
    ++i;
    // Duplicates are folded into the run; a descending step starts a new one.
    while (i < ascending_uids.size() &&
           (ascending_uids[i] == last || (last < UINT32_MAX && ascending_uids[i] == last + 1))) {
      last = ascending_uids[i++];
    }
    add_item(first == last ? std::to_string(first) : std::to_string(first) + ":" + std::to_string(last));
  }
  if (!current.empty()) sets.push_back(std::move(current));
  return sets;
}

// RFC 3501 §5.1.3: printable US-ASCII stands for itself ("&" as "&-"); every other run of
// characters becomes "&" modified-BASE64(UTF-16BE) "-". Invalid UTF-8 becomes U+FFFD.
std::string encode_modified_utf7(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  std::string run;  // UTF-16BE of the pending non-ASCII characters
  auto flush = [&] {
    if (run.empty()) return;
    out.push_back('&');
    append_modified_base64(out, run);
    out.push_back('-');
    run.clear();
  };
  size_t pos = 0;
  while (pos < utf8.size()) {
    const char32_t cp = next_code_point(utf8, pos);
    if (cp >= 0x20 && cp <= 0x7E) {
      flush();
      out.push_back(static_cast<char>(cp));
      if (cp == '&') out.push_back('-');
    } else {
      append_utf16be(run, cp);
    }
  }
  flush();
  return out;
}

std::string search_date(int64_t unix_seconds) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t when = static_cast<time_t>(unix_seconds);
  struct tm day = {};
  gmtime_r(&when, &day);
  return str_cat(std::to_string(day.tm_mday), "-", kMonths[day.tm_mon], "-",
                 std::to_string(day.tm_year + 1900));
}

}  // namespace popgate::imap
