// ImapResponseParser: incremental parser for IMAP server responses (RFC 3501 §7, RFC 9051 §7).
//
// Fed bytes in arbitrary chunks; next() yields whole responses, except that the literal
// holding a message body (the value of a BODY[...], BINARY[...] or RFC822* FETCH item)
// is streamed as LiteralBegin / LiteralData... / LiteralEnd instead of being buffered,
// so a 100 MB message never sits in memory. Every other literal is small and inlined.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace popgate::imap {

enum class ValueKind { Atom, Number, String, Nil, List, StreamedLiteral };

// One token of a response. Atoms keep their case; FETCH item names such as
// "BODY[]<0>" or "BODY[HEADER.FIELDS (DATE)]" are one Atom, brackets included.
struct Value {
  ValueKind kind = ValueKind::Nil;
  std::string text;         // Atom, String (unquoted, unescaped), Number (digits)
  uint64_t number = 0;      // Number; for StreamedLiteral, its size in octets
  std::vector<Value> list;  // List

  bool is_atom(std::string_view upper_case_name) const;  // case-insensitive
};

enum class ResponseKind { Tagged, Untagged, Continuation };
enum class StatusKind { Ok, No, Bad, PreAuth, Bye };

struct Response {
  ResponseKind kind = ResponseKind::Untagged;
  std::string tag;                   // Tagged only
  std::optional<uint64_t> number;    // "* 3 EXISTS", "* 7 FETCH (...)"
  std::string name;                  // upper-cased: "OK", "EXISTS", "FETCH", "CAPABILITY"...
  std::optional<StatusKind> status;  // set when name is OK/NO/BAD/PREAUTH/BYE
  std::string code;                  // the [response code] of a status, brackets stripped
  std::string text;                  // human text of a status or continuation, up to CRLF
  std::vector<Value> values;         // data after the name for non-status responses
};

// ---- Events ----
struct NeedMore {};
struct ResponseReady {
  Response response;
};
// A streamed body literal starts.
struct LiteralBegin {
  uint64_t size = 0;
  std::optional<uint64_t> message_number;  // the FETCH's sequence number
  std::string item;                        // the FETCH item name as sent, e.g. "BODY[]<0>"
};
struct LiteralData {
  std::string_view bytes;  // valid until the next call into the parser
};
struct LiteralEnd {};
// The stream cannot be trusted any more.
struct ParseError {
  std::string reason;
};

using ParseEvent = std::variant<NeedMore, ResponseReady, LiteralBegin, LiteralData, LiteralEnd, ParseError>;

struct ParserLimits {
  size_t max_line = 1024 * 1024;            // octets of one response outside literals
  size_t max_inline_literal = 1024 * 1024;  // literals that are not bodies, summed per response
  size_t max_nesting = 64;                  // list depth
};

class ImapResponseParser {
 public:
  explicit ImapResponseParser(ParserLimits limits = {});

  // Hands the parser a view of newly received bytes. The bytes must stay valid until
  // next() returns NeedMore or ParseError; the parser copies only what it must keep
  // (an incomplete line or token), never streamed literal data.
  void feed(std::string_view bytes);

  // Pull the next event. After ParseError every call returns the same ParseError.
  ParseEvent next();

 private:
  // Where next() resumes: reading a line, inside an inlined literal, inside a streamed one,
  // or stopped for good after a ParseError.
  enum class Phase { Line, InlineLiteral, StreamedLiteral, Failed };
  // The result of every parse step (STYLE.md): the step finished, it needs more bytes
  // (for a line: a literal follows before the response can go on), or the input is bad.
  enum class Step { Complete, NeedMore, Error };

  // imap_response_parser.cc: framing into lines and literals, the event loop of next().
  Step take_line(std::string_view& line);
  Step read_inline_literal();
  ParseEvent next_streamed_literal();
  ParseEvent finish_response();
  ParseEvent fail();

  // imap_response_grammar.cc: the grammar of one line (RFC 3501 §9).
  Step parse_line(std::string_view line);
  Step parse_first_line(std::string_view line);
  Step parse_status_tail(std::string_view line, size_t pos);
  Step parse_values(std::string_view line, size_t pos);
  Step parse_atom(std::string_view line, size_t& pos);
  Step parse_quoted(std::string_view line, size_t& pos);
  Step parse_literal_header(std::string_view line, size_t pos);
  void push_value(Value&& value);
  Step error(const char* reason);

  ParserLimits limits_;
  std::string carry_;       // an incomplete line kept across feeds (never literal data)
  std::string_view input_;  // fed bytes not consumed yet
  std::string spill_;       // owns input_ only if feed() came before the last bytes were consumed
  Phase phase_ = Phase::Line;
  std::string error_;  // reason of the ParseError once phase_ is Failed

  // The response being parsed; it may span several lines joined by literals.
  bool in_response_ = false;
  Response response_;
  std::vector<Value> open_lists_;    // lists opened and not closed yet, innermost last
  bool need_separator_ = false;      // a value just ended: only SP, ")" or CRLF may follow
  bool list_closed_ = false;         // ...and it was a list, so "(" may follow too: ")("
  bool fetch_ = false;               // "* n FETCH": item names with [...] and body streaming
  size_t line_bytes_ = 0;            // non-literal octets of this response, against max_line
  size_t inline_literal_bytes_ = 0;  // inlined literal octets of this response

  // The literal being read.
  uint64_t literal_size_ = 0;
  uint64_t literal_left_ = 0;
  std::string inline_literal_;  // data of an inlined literal
  std::string literal_item_;    // FETCH item name of a streamed literal
};

}  // namespace popgate::imap
