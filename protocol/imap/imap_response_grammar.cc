// ImapResponseParser grammar: turns one response line into tags, status, codes and values.
#include <limits>
#include <string>
#include <string_view>

#include "protocol/common/ascii.h"
#include "protocol/imap/imap_response_parser.h"

namespace popgate::imap {
namespace {

// A uint64 has at most 20 decimal digits; longer literal sizes are refused before parsing.
constexpr size_t kMaxNumberDigits = 20;

using ascii::iequals;
using ascii::istarts_with;
using ascii::to_upper;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3501 §9 ATOM-CHAR, widened the way servers need: resp-specials "]", list-wildcards
// "%" "*" (flags like \*) and "\" are kept inside atoms, and 8-bit octets are allowed for
// UTF8=ACCEPT servers (RFC 6855). SP, CTL, "(", ")", "{" and DQUOTE end an atom.
bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u == 0x7f) return false;
  return c != '(' && c != ')' && c != '{' && c != '"';
}

// RFC 3501 §9: tag = 1*<any ASTRING-CHAR except "+">.
bool is_tag_char(char c) {
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
    case '+':
      return false;
    default:
      return true;
  }
}

// A response name (OK, EXISTS, FETCH, CAPABILITY...): an atom without brackets, so that
// "OK[" is not mistaken for a name.
bool is_name_char(char c) {
  return is_atom_char(c) && c != '[' && c != ']';
}

bool parse_number(std::string_view digits, uint64_t& out) {
  if (digits.empty() || digits.size() > kMaxNumberDigits) return false;
  uint64_t value = 0;
  for (char c : digits) {
    if (!is_digit(c)) return false;
    auto d = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    value = value * 10 + d;
  }
  out = value;
  return true;
}

std::optional<StatusKind> status_of(std::string_view upper_name) {
  // RFC 3501 §7.1: the status responses, which carry [code] and human text.
  if (upper_name == "OK") return StatusKind::Ok;
  if (upper_name == "NO") return StatusKind::No;
  if (upper_name == "BAD") return StatusKind::Bad;
  if (upper_name == "PREAUTH") return StatusKind::PreAuth;
  if (upper_name == "BYE") return StatusKind::Bye;
  return std::nullopt;
}

// The FETCH items whose literal is a message or part of one, streamed instead of buffered
// (RFC 3501 §7.4.2 BODY[...], RFC822*, RFC 3516 BINARY[...]).
bool is_body_item(std::string_view name) {
  return istarts_with(name, "BODY[") || istarts_with(name, "BINARY[") || iequals(name, "RFC822") ||
         iequals(name, "RFC822.TEXT") || iequals(name, "RFC822.HEADER");
}

// Index of the "]" closing a response code, skipping quoted strings; npos if none.
size_t find_code_end(std::string_view line, size_t pos) {
  bool quoted = false;
  for (; pos < line.size(); ++pos) {
    char c = line[pos];
    if (quoted) {
      if (c == '\\') {
        ++pos;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ']') {
      return pos;
    }
  }
  return std::string_view::npos;
}

}  // namespace

bool Value::is_atom(std::string_view upper_case_name) const {
  return kind == ValueKind::Atom && iequals(text, upper_case_name);
}

ImapResponseParser::Step ImapResponseParser::parse_line(std::string_view line) {
  // RFC 3501 §4.3: NUL may only appear inside a literal8; anywhere else the stream is corrupt.
  if (line.find('\0') != std::string_view::npos) return error("NUL outside a literal");
  return in_response_ ? parse_values(line, 0) : parse_first_line(line);
}

ImapResponseParser::Step ImapResponseParser::parse_first_line(std::string_view line) {
  if (line.empty()) return error("empty line instead of a response");
  in_response_ = true;

  // RFC 3501 §7.5: continue-req = "+" SP (resp-text / base64); a bare "+" is accepted too.
  if (line[0] == '+') {
    response_.kind = ResponseKind::Continuation;
    if (line.size() > 1) {
      if (line[1] != ' ') return error("continuation without a space after +");
      response_.text = std::string(line.substr(2));
    }
    return Step::Complete;
  }

  size_t pos = 0;
  if (line[0] == '*') {
    // RFC 3501 §7: untagged responses, "* " then an optional message number and a name.
    response_.kind = ResponseKind::Untagged;
    if (line.size() < 2 || line[1] != ' ') return error("no space after *");
    pos = 2;
    if (pos < line.size() && is_digit(line[pos])) {
      size_t start = pos;
      while (pos < line.size() && is_digit(line[pos])) ++pos;
      uint64_t number = 0;
      if (!parse_number(line.substr(start, pos - start), number)) return error("message number too large");
      response_.number = number;
      if (pos >= line.size() || line[pos] != ' ') return error("no space after the message number");
      ++pos;
    }
  } else {
    // RFC 3501 §7.1: tagged responses are always a status (OK, NO or BAD).
    response_.kind = ResponseKind::Tagged;
    while (pos < line.size() && is_tag_char(line[pos])) ++pos;
    if (pos == 0) return error("response does not start with a tag, * or +");
    response_.tag = std::string(line.substr(0, pos));
    if (pos >= line.size() || line[pos] != ' ') return error("no space after the tag");
    ++pos;
  }

  size_t name_start = pos;
  while (pos < line.size() && is_name_char(line[pos])) ++pos;
  if (pos == name_start) return error("response without a name");
  response_.name.reserve(pos - name_start);
  for (size_t i = name_start; i < pos; ++i) response_.name.push_back(to_upper(line[i]));

  std::optional<StatusKind> status = status_of(response_.name);
  if (status && !response_.number) {
    response_.status = status;
    return parse_status_tail(line, pos);
  }
  if (response_.kind == ResponseKind::Tagged) return error("tagged response without a status");

  // RFC 3501 §7.4.2: only "* n FETCH" carries section names and message bodies.
  fetch_ = response_.number.has_value() && response_.name == "FETCH";
  if (pos == line.size()) return Step::Complete;  // "* SEARCH", "* 3 EXISTS"
  if (line[pos] != ' ') return error("no space after the response name");
  return parse_values(line, pos);
}

// RFC 3501 §7.1: resp-text = ["[" resp-text-code "]" SP] text. The text is free: it may
// hold unbalanced brackets, quotes or braces, so it is not tokenised.
ImapResponseParser::Step ImapResponseParser::parse_status_tail(std::string_view line, size_t pos) {
  if (pos == line.size()) return Step::Complete;  // no text: tolerated
  if (line[pos] != ' ') return error("no space after the status");
  ++pos;
  if (pos < line.size() && line[pos] == '[') {
    size_t end = find_code_end(line, pos + 1);
    // Without a closing "]" it is not a code, only text that starts with "[".
    if (end != std::string_view::npos) {
      response_.code = std::string(line.substr(pos + 1, end - pos - 1));
      pos = end + 1;
      if (pos < line.size() && line[pos] == ' ') ++pos;
    }
  }
  response_.text = std::string(line.substr(pos));
  return Step::Complete;
}

// Values separated by SP, possibly nested in lists, up to CRLF or a literal announcement.
// Called again with the next line after each literal; open lists persist in open_lists_.
ImapResponseParser::Step ImapResponseParser::parse_values(std::string_view line, size_t pos) {
  while (pos < line.size()) {
    char c = line[pos];
    if (c == ' ') {  // runs of SP and a trailing SP before CRLF are tolerated
      ++pos;
      need_separator_ = false;
      list_closed_ = false;
      continue;
    }
    if (c == ')') {
      if (open_lists_.empty()) return error("unbalanced )");
      Value list = std::move(open_lists_.back());
      open_lists_.pop_back();
      push_value(std::move(list));
      ++pos;
      need_separator_ = true;
      list_closed_ = true;
      continue;
    }
    // RFC 3501 §9 body-type-mpart = 1*body SP media-subtype: lists may follow lists
    // without a space, as in BODYSTRUCTURE ((...)(...) "MIXED") and NAMESPACE.
    if (need_separator_ && !(c == '(' && list_closed_)) return error("values not separated by a space");
    need_separator_ = false;
    list_closed_ = false;
    if (c == '(') {
      if (open_lists_.size() >= limits_.max_nesting) return error("lists nested too deeply");
      Value list;
      list.kind = ValueKind::List;
      open_lists_.push_back(std::move(list));
      ++pos;
      continue;
    }
    Step step;
    if (c == '"') {
      step = parse_quoted(line, pos);
    } else if (c == '{' || (c == '~' && pos + 1 < line.size() && line[pos + 1] == '{')) {
      return parse_literal_header(line, pos);
    } else if (is_atom_char(c)) {
      step = parse_atom(line, pos);
    } else {
      return error("unexpected control character");
    }
    if (step == Step::Error) return step;
    need_separator_ = true;
  }
  if (!open_lists_.empty()) return error("unbalanced ( at end of response");
  return Step::Complete;
}

// An atom, number or NIL. In a FETCH, "[" opens a section that runs to its matching "]"
// with spaces and parens inside, then an optional "<origin>" (RFC 3501 §7.4.2 BODY[...]<n>).
ImapResponseParser::Step ImapResponseParser::parse_atom(std::string_view line, size_t& pos) {
  size_t start = pos;
  bool digits_only = true;
  while (pos < line.size()) {
    char c = line[pos];
    if (fetch_ && c == '[') {
      size_t depth = 0;
      for (; pos < line.size(); ++pos) {
        if (line[pos] == '[') ++depth;
        if (line[pos] == ']' && --depth == 0) break;
      }
      if (pos == line.size()) return error("unterminated [ in a FETCH item");
      ++pos;
      if (pos < line.size() && line[pos] == '<') {
        size_t digits = ++pos;
        while (pos < line.size() && is_digit(line[pos])) ++pos;
        if (pos == digits || pos == line.size() || line[pos] != '>')
          return error("bad <origin> in a FETCH item");
        ++pos;
      }
      digits_only = false;
      break;
    }
    if (!is_atom_char(c)) break;
    digits_only = digits_only && is_digit(c);
    ++pos;
  }

  Value value;
  std::string_view text = line.substr(start, pos - start);
  if (digits_only) {
    // RFC 3501 §9 number / RFC 7162 mod-sequence: both fit in 64 bits.
    value.kind = ValueKind::Number;
    if (!parse_number(text, value.number)) return error("number too large");
    value.text = std::string(text);
  } else if (iequals(text, "NIL")) {
    value.kind = ValueKind::Nil;
  } else {
    value.kind = ValueKind::Atom;
    value.text = std::string(text);
  }
  push_value(std::move(value));
  return Step::Complete;
}

// RFC 3501 §9: quoted = DQUOTE *QUOTED-CHAR DQUOTE, where only \" and \\ are escapes.
// 8-bit octets are allowed for UTF8=ACCEPT servers (RFC 6855 §3).
ImapResponseParser::Step ImapResponseParser::parse_quoted(std::string_view line, size_t& pos) {
  Value value;
  value.kind = ValueKind::String;
  ++pos;  // opening DQUOTE
  while (pos < line.size()) {
    size_t run = pos;
    while (pos < line.size() && line[pos] != '"' && line[pos] != '\\') ++pos;
    value.text.append(line.substr(run, pos - run));
    if (pos == line.size()) break;
    if (line[pos] == '"') {
      ++pos;
      push_value(std::move(value));
      return Step::Complete;
    }
    if (pos + 1 == line.size() || (line[pos + 1] != '"' && line[pos + 1] != '\\')) {
      return error("bad escape in a quoted string");
    }
    value.text.push_back(line[pos + 1]);
    pos += 2;
  }
  return error("unterminated quoted string");
}

// RFC 3501 §4.3 literal "{n}" CRLF, RFC 7888 "{n+}", RFC 3516 literal8 "~{n}": the
// announcement must end the line, and n octets follow the CRLF.
ImapResponseParser::Step ImapResponseParser::parse_literal_header(std::string_view line, size_t pos) {
  if (line[pos] == '~') ++pos;
  size_t digits = ++pos;  // past "{"
  while (pos < line.size() && is_digit(line[pos])) ++pos;
  uint64_t size = 0;
  if (pos == digits) return error("bad literal announcement");
  if (!parse_number(line.substr(digits, pos - digits), size)) return error("literal size too large");
  if (pos < line.size() && line[pos] == '+') ++pos;
  if (pos == line.size() || line[pos] != '}') return error("bad literal announcement");
  if (pos + 1 != line.size()) return error("literal announcement not at the end of the line");

  literal_size_ = size;
  literal_left_ = size;
  // Stream the value of a body item at the top level of the FETCH list: ("KEY" value) pairs,
  // so the literal is a value when the list holds an odd count and the key precedes it.
  const bool streamed = fetch_ && open_lists_.size() == 1 && open_lists_.back().list.size() % 2 == 1 &&
                        open_lists_.back().list.back().kind == ValueKind::Atom &&
                        is_body_item(open_lists_.back().list.back().text);
  if (streamed) {
    literal_item_ = open_lists_.back().list.back().text;
    phase_ = Phase::StreamedLiteral;
    return Step::NeedMore;
  }
  // Inlined literals of one response share one budget, so many small ones cannot add up.
  if (size > limits_.max_inline_literal - inline_literal_bytes_)
    return error("literal larger than the inline limit");
  inline_literal_bytes_ += static_cast<size_t>(size);
  phase_ = Phase::InlineLiteral;
  return Step::NeedMore;
}

void ImapResponseParser::push_value(Value&& value) {
  if (open_lists_.empty()) {
    response_.values.push_back(std::move(value));
  } else {
    open_lists_.back().list.push_back(std::move(value));
  }
}

}  // namespace popgate::imap
