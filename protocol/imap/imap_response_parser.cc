// ImapResponseParser framing: splits fed bytes into lines and literals and drives next().
#include "protocol/imap/imap_response_parser.h"

#include <algorithm>
#include <utility>

namespace popgate::imap {

ImapResponseParser::ImapResponseParser(ParserLimits limits) : limits_(limits) {}

void ImapResponseParser::feed(std::string_view bytes) {
  if (phase_ == Phase::Failed) return;
  if (input_.empty()) {
    input_ = bytes;
    if (!spill_.empty()) spill_ = std::string();  // a past contract slip: free its copy
    return;
  }
  // The caller fed again before next() had consumed the previous bytes. Keeping both
  // views is impossible, so own a copy rather than drop data; the normal path never gets here.
  std::string joined;
  joined.reserve(input_.size() + bytes.size());
  joined.append(input_);
  joined.append(bytes);
  spill_ = std::move(joined);
  input_ = spill_;
}

ParseEvent ImapResponseParser::next() {
  for (;;) {
    switch (phase_) {
      case Phase::Failed:
        return ParseError{error_};
      case Phase::InlineLiteral:
        if (read_inline_literal() == Step::NeedMore) return NeedMore{};
        continue;  // the literal is complete and the response goes on

      case Phase::StreamedLiteral:
        return next_streamed_literal();
      case Phase::Line:
        break;
    }

    std::string_view line;
    Step step = take_line(line);
    if (step == Step::NeedMore) return NeedMore{};
    if (step == Step::Error) return fail();
    step = parse_line(line);
    carry_.clear();  // `line` may have pointed into it; keep the capacity for the next partial line
    if (step == Step::Error) return fail();
    if (step == Step::Complete) return finish_response();
    // Step::NeedMore: the line ended in a literal announcement; parse_line chose the phase.
    if (phase_ == Phase::StreamedLiteral) {
      return LiteralBegin{literal_size_, response_.number, literal_item_};
    }
  }
}

// Finds the next CRLF-terminated line. The line is a view into the input when it arrived
// whole, or into carry_ when it was split across feeds; only the partial tail is copied.
ImapResponseParser::Step ImapResponseParser::take_line(std::string_view& line) {
  size_t lf = input_.find('\n');
  if (lf == std::string_view::npos) {
    // The finished line will be at least one octet (its LF) longer than what we have.
    if (line_bytes_ + carry_.size() + input_.size() >= limits_.max_line) {
      return error("response longer than the line limit");
    }
    carry_.append(input_);
    input_ = {};
    return Step::NeedMore;
  }
  size_t length = carry_.size() + lf + 1;
  if (line_bytes_ + length > limits_.max_line) return error("response longer than the line limit");
  line_bytes_ += length;
  if (carry_.empty()) {
    line = input_.substr(0, lf);
  } else {
    carry_.append(input_.substr(0, lf));
    line = carry_;
  }
  input_.remove_prefix(lf + 1);
  // RFC 3501 §2.2: every line ends in CRLF; a bare LF means we lost the framing.
  if (line.empty() || line.back() != '\r') return error("line not terminated by CRLF");
  line.remove_suffix(1);
  return Step::Complete;
}

// Copies an inlined literal (RFC 3501 §4.3); its size was checked against the limit.
ImapResponseParser::Step ImapResponseParser::read_inline_literal() {
  size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, input_.size()));
  inline_literal_.append(input_.substr(0, n));
  input_.remove_prefix(n);
  literal_left_ -= n;
  if (literal_left_ > 0) return Step::NeedMore;
  Value value;
  value.kind = ValueKind::String;
  value.text = std::move(inline_literal_);
  inline_literal_ = std::string();
  push_value(std::move(value));
  need_separator_ = true;
  list_closed_ = false;
  phase_ = Phase::Line;
  return Step::Complete;
}

// Hands out a message body as views into the fed bytes, never copying them.
ParseEvent ImapResponseParser::next_streamed_literal() {
  if (literal_left_ == 0) {
    Value value;
    value.kind = ValueKind::StreamedLiteral;
    value.number = literal_size_;
    push_value(std::move(value));
    need_separator_ = true;
    list_closed_ = false;
    phase_ = Phase::Line;
    return LiteralEnd{};
  }
  if (input_.empty()) return NeedMore{};
  size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, input_.size()));
  std::string_view chunk = input_.substr(0, n);
  input_.remove_prefix(n);
  literal_left_ -= n;
  return LiteralData{chunk};
}

ParseEvent ImapResponseParser::finish_response() {
  Response response = std::move(response_);
  response_ = Response{};
  open_lists_.clear();
  in_response_ = false;
  need_separator_ = false;
  list_closed_ = false;
  fetch_ = false;
  line_bytes_ = 0;
  inline_literal_bytes_ = 0;
  return ResponseReady{std::move(response)};
}

ParseEvent ImapResponseParser::fail() {
  phase_ = Phase::Failed;
  input_ = {};
  // Nothing after a framing error can be trusted; free what the broken response held.
  carry_ = std::string();
  spill_ = std::string();
  inline_literal_ = std::string();
  open_lists_.clear();
  response_ = Response{};
  return ParseError{error_};
}

ImapResponseParser::Step ImapResponseParser::error(const char* reason) {
  error_ = reason;
  return Step::Error;
}

}  // namespace popgate::imap
