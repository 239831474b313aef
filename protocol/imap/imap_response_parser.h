// ImapResponseParser: incremental parser for IMAP server responses (RFC 3501 §7, RFC 9051 §7).
//
// Fed bytes in arbitrary chunks; next() yields whole responses, except that the literal
// holding a message body (the value of a BODY[...], BINARY[...] or RFC822* FETCH item)
// is streamed as LiteralBegin / LiteralData... / LiteralEnd instead of being buffered,
// so a 100 MB message never sits in memory. Every other literal is small and inlined.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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
  std::string text;          // Atom, String (unquoted, unescaped), Number (digits)
  uint64_t number = 0;       // Number; for StreamedLiteral, its size in octets
  std::vector<Value> list;   // List

  bool is_atom(std::string_view upper_case_name) const;  // case-insensitive
};

enum class ResponseKind { Tagged, Untagged, Continuation };
enum class StatusKind { Ok, No, Bad, PreAuth, Bye };

struct Response {
  ResponseKind kind = ResponseKind::Untagged;
  std::string tag;                     // Tagged only
  std::optional<uint64_t> number;      // "* 3 EXISTS", "* 7 FETCH (...)"
  std::string name;                    // upper-cased: "OK", "EXISTS", "FETCH", "CAPABILITY"...
  std::optional<StatusKind> status;    // set when name is OK/NO/BAD/PREAUTH/BYE
  std::string code;                    // the [response code] of a status, brackets stripped
  std::string text;                    // human text of a status or continuation, up to CRLF
  std::vector<Value> values;           // data after the name for non-status responses
};

// ---- Events ----
struct NeedMore {};
struct ResponseReady { Response response; };
struct LiteralBegin {                  // a streamed body literal starts
  uint64_t size = 0;
  std::optional<uint64_t> message_number;  // the FETCH's sequence number
  std::string item;                    // the FETCH item name as sent, e.g. "BODY[]<0>"
};
struct LiteralData { std::string_view bytes; };  // valid until the next call into the parser
struct LiteralEnd {};
struct ParseError { std::string reason; };  // the stream cannot be trusted any more

using ParseEvent = std::variant<NeedMore, ResponseReady, LiteralBegin, LiteralData, LiteralEnd, ParseError>;

struct ParserLimits {
  size_t max_line = 1024 * 1024;           // octets of one response outside literals
  size_t max_inline_literal = 1024 * 1024; // a literal that is not a body
  size_t max_nesting = 64;                 // list depth
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
  // The implementation owns these; it may add members as it needs.
  ParserLimits limits_;
  std::string carry_;        // incomplete data kept across feeds
  std::string_view input_;   // fed bytes not consumed yet
  struct State;              // parse state machine, defined in the .cc
  std::shared_ptr<State> state_;
};

}  // namespace popgate::imap
