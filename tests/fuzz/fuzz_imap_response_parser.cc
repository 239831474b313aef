// fuzz_imap_response_parser: ImapResponseParser on any byte stream. It either parses or reports a
// protocol error, never crashes or stalls, and the events do not depend on how the stream was cut:
// whole, one byte at a time and at random points give the same transcript. Each chunk lives in
// its own heap buffer, freed once the parser said NeedMore, so ASan sees any view kept too long.
// Run with the default limits and with small ones, so the limits are reached too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/imap/imap_response_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

using imap::ImapResponseParser;
using imap::ParseEvent;
using imap::ParserLimits;
using imap::Response;
using imap::Value;

constexpr int kMaxEventsPerChunk = 1 << 20;

void describe(const Value& value, std::string& out) {
  out += std::to_string(static_cast<int>(value.kind)) + ":";
  switch (value.kind) {
    case imap::ValueKind::List:
      out += "(";
      for (const Value& item : value.list) describe(item, out);
      out += ")";
      break;
    case imap::ValueKind::StreamedLiteral:
    case imap::ValueKind::Number:
      out += std::to_string(value.number) + "/" + value.text;
      break;
    default:
      out += std::to_string(value.text.size()) + "'" + value.text;
      break;
  }
  out += ' ';
}

void describe(const Response& r, std::string& out) {
  out += "R" + std::to_string(static_cast<int>(r.kind)) + " tag=" + r.tag +
         " n=" + (r.number ? std::to_string(*r.number) : "-") + " name=" + r.name +
         " status=" + (r.status ? std::to_string(static_cast<int>(*r.status)) : "-") + " code=" + r.code +
         " text=" + r.text + " values=";
  for (const Value& value : r.values) describe(value, out);
  out += "\n";
}

// What the parser said, with consecutive LiteralData joined (their cuts follow the feeds).
class Transcript {
 public:
  // False when the parse is over (NeedMore: feed more; ParseError: for good).
  bool record(const ParseEvent& event) {
    if (std::holds_alternative<imap::NeedMore>(event)) return false;
    if (const auto* data = std::get_if<imap::LiteralData>(&event)) {
      FUZZ_CHECK(in_literal_ && !data->bytes.empty());
      FUZZ_CHECK(data->bytes.size() <= literal_left_);
      literal_left_ -= data->bytes.size();
      if (!joining_) text_ += "D";
      joining_ = true;
      text_.append(data->bytes);
      return true;
    }
    if (joining_) text_ += "\n";
    joining_ = false;
    if (const auto* begin = std::get_if<imap::LiteralBegin>(&event)) {
      FUZZ_CHECK(!in_literal_);
      in_literal_ = true;
      literal_left_ = begin->size;
      text_ += "B" + std::to_string(begin->size) +
               " n=" + (begin->message_number ? std::to_string(*begin->message_number) : "-") +
               " item=" + begin->item + "\n";
    } else if (std::holds_alternative<imap::LiteralEnd>(event)) {
      FUZZ_CHECK(in_literal_ && literal_left_ == 0);  // exactly the announced octets
      in_literal_ = false;
      text_ += "E\n";
    } else if (const auto* ready = std::get_if<imap::ResponseReady>(&event)) {
      FUZZ_CHECK(!in_literal_);
      check(ready->response);
      describe(ready->response, text_);
    } else {
      text_ += "X" + std::get<imap::ParseError>(event).reason + "\n";
      failed_ = true;
      return false;
    }
    return true;
  }

  const std::string& text() const { return text_; }
  bool failed() const { return failed_; }

 private:
  static void check(const Response& r) {
    FUZZ_CHECK(r.kind == imap::ResponseKind::Continuation ? r.name.empty() && r.values.empty()
                                                          : !r.name.empty());
    if (r.kind == imap::ResponseKind::Tagged) FUZZ_CHECK(!r.tag.empty() && r.status.has_value());
    if (r.status) FUZZ_CHECK(r.values.empty() && !r.number);
  }

  std::string text_;
  bool in_literal_ = false;
  uint64_t literal_left_ = 0;
  bool joining_ = false;
  bool failed_ = false;
};

// Feeds `input` cut at `cuts` (ascending offsets) and returns the transcript.
std::string parse(std::string_view input, const std::vector<size_t>& cuts, const ParserLimits& limits) {
  ImapResponseParser parser(limits);
  Transcript transcript;
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size() && !transcript.failed(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    const size_t n = end - start;
    auto chunk = std::make_unique<char[]>(n + 1);  // never empty, so each chunk has its own address
    std::copy(input.begin() + static_cast<ptrdiff_t>(start), input.begin() + static_cast<ptrdiff_t>(end),
              chunk.get());
    parser.feed(std::string_view(chunk.get(), n));
    for (int events = 0; transcript.record(parser.next()); ++events) FUZZ_CHECK(events < kMaxEventsPerChunk);
    start = end;
  }
  if (transcript.failed()) {
    // After an error the parser stays failed, whatever comes.
    parser.feed("* OK\r\n");
    FUZZ_CHECK(std::holds_alternative<imap::ParseError>(parser.next()));
  }
  return transcript.text();
}

void check_every_cut(std::string_view input, const ParserLimits& limits) {
  const std::string whole = parse(input, {}, limits);
  std::vector<size_t> bytes;
  for (size_t i = 1; i < input.size(); ++i) bytes.push_back(i);
  FUZZ_CHECK(parse(input, bytes, limits) == whole);
  // Random cuts from a generator seeded by the input.
  std::vector<size_t> random;
  uint32_t state = static_cast<uint32_t>(input.size()) | 1;
  for (const char c : input.substr(0, 8)) state = state * 31 + static_cast<unsigned char>(c);
  for (size_t at = 0;;) {
    state = state * 1664525u + 1013904223u;
    at += 1 + (state >> 24) % 97;
    if (at >= input.size()) break;
    random.push_back(at);
  }
  FUZZ_CHECK(parse(input, random, limits) == whole);
}

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace popgate::fuzz;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_every_cut(input, ParserLimits{});
  check_every_cut(input, ParserLimits{.max_line = 256, .max_inline_literal = 64, .max_nesting = 4});
  return 0;
}
