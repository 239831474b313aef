// fuzz_http_response_parser: HttpResponseParser (llhttp underneath) on any byte stream followed by
// the peer's close. Whole, one byte at a time and cut at random points, the stream must give the
// same heads, bodies, ends and outcome (complete, truncated or a protocol error); a step never
// claims more bytes than it was given, NeedMore means every byte was used, a body is a view into
// the bytes just fed, and an error stays.
// Each chunk lives in its own heap buffer, freed after its last step, so ASan sees a kept view.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/io/http_response_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

using io::HttpResponseEvent;
using io::HttpResponseLimits;
using io::HttpResponseParser;
using io::HttpResponseParseStatus;
using io::HttpResponseStep;

constexpr int kMaxStepsPerChunk = 1 << 20;

void describe_headers(const io::HttpHeaders& headers, std::string& out) {
  for (const auto& [name, value] : headers) out += name + ": " + value + "|";
}

class Transcript {
 public:
  explicit Transcript(HttpResponseParser& parser) : parser_(parser) {}

  // Records one step; false when the chunk is used up (NeedMore) or the parser failed.
  bool record(const HttpResponseStep& step) {
    if (step.status == HttpResponseParseStatus::NeedMore) return false;
    if (step.status == HttpResponseParseStatus::Error) {
      FUZZ_CHECK(step.error != io::HttpResponseParseError::None);
      end_body();
      // Malformed and TooLarge are one outcome: HttpConnection fails the request as a protocol
      // error either way. Which one is found first may depend on where llhttp's header spans were
      // cut (the stored-header limit counts a cut span before llhttp sees a bad octet in it).
      const bool truncated = step.error == io::HttpResponseParseError::Truncated;
      text_ += truncated ? "X truncated\n" : "X protocol error\n";
      failed_ = true;
      return false;
    }
    if (step.event == HttpResponseEvent::Body) {
      FUZZ_CHECK(!step.body.empty() && in_body_);
      if (!joining_) text_ += "B";
      joining_ = true;
      text_.append(step.body);
      return true;
    }
    end_body();
    if (step.event == HttpResponseEvent::Head) {
      FUZZ_CHECK(!in_body_);
      in_body_ = true;
      const io::HttpResponseHead& head = parser_.head();
      FUZZ_CHECK(head.status / 100 != 1 && head.status <= 999);  // 1xx are interim, never a head
      text_ += "H" + std::to_string(head.status) + " ";
      describe_headers(head.headers, text_);
      text_ += "\n";
    } else {
      FUZZ_CHECK(step.event == HttpResponseEvent::MessageComplete && in_body_);
      FUZZ_CHECK(parser_.between_responses());
      in_body_ = false;
      text_ += std::string("C keep_alive=") + (parser_.keep_alive() ? "1" : "0") +
               " bytes=" + std::to_string(parser_.body_bytes()) + " trailers=";
      describe_headers(parser_.trailers(), text_);
      text_ += "\n";
    }
    return true;
  }

  const std::string& text() const { return text_; }
  bool failed() const { return failed_; }

 private:
  void end_body() {
    if (joining_) text_ += "\n";
    joining_ = false;
  }

  HttpResponseParser& parser_;
  std::string text_;
  bool in_body_ = false;
  bool joining_ = false;
  bool failed_ = false;
};

// Feeds `input` cut at `cuts` (ascending offsets), then the close, and returns the transcript.
std::string parse(std::string_view input, const std::vector<size_t>& cuts, const HttpResponseLimits& limits,
                  bool head_request) {
  HttpResponseParser parser(limits);
  if (head_request) parser.expect_head_response();
  Transcript transcript(parser);
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size() && !transcript.failed(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    const size_t n = end - start;
    auto chunk = std::make_unique<char[]>(n + 1);  // never empty, so each chunk has its own address
    std::copy(input.begin() + static_cast<ptrdiff_t>(start), input.begin() + static_cast<ptrdiff_t>(end),
              chunk.get());
    std::string_view rest(chunk.get(), n);
    for (int steps = 0;; ++steps) {
      FUZZ_CHECK(steps < kMaxStepsPerChunk);
      const HttpResponseStep step = parser.parse(rest);
      FUZZ_CHECK(step.consumed <= rest.size());
      if (step.status == HttpResponseParseStatus::NeedMore) FUZZ_CHECK(step.consumed == rest.size());
      if (step.event == HttpResponseEvent::Body) {
        // A view into the bytes just fed, never a copy (and never past them).
        FUZZ_CHECK(step.body.data() >= chunk.get() && step.body.data() + step.body.size() <= chunk.get() + n);
      }
      rest.remove_prefix(step.consumed);
      if (!transcript.record(step)) break;
    }
    start = end;
  }
  // The peer closes: a close-delimited body ends, anything else cut short is an error.
  for (int steps = 0; !transcript.failed(); ++steps) {
    FUZZ_CHECK(steps < kMaxStepsPerChunk);
    if (!transcript.record(parser.finish())) break;
  }
  if (transcript.failed()) {
    const HttpResponseStep again = parser.parse("HTTP/1.1 200 OK\r\n\r\n");
    FUZZ_CHECK(again.status == HttpResponseParseStatus::Error);
  }
  return transcript.text();
}

void check_every_cut(std::string_view input, const HttpResponseLimits& limits, bool head_request) {
  const std::string whole = parse(input, {}, limits, head_request);
  std::vector<size_t> bytes;
  for (size_t i = 1; i < input.size(); ++i) bytes.push_back(i);
  FUZZ_CHECK(parse(input, bytes, limits, head_request) == whole);
  std::vector<size_t> random;
  uint32_t state = static_cast<uint32_t>(input.size()) | 1;
  for (const char c : input.substr(0, 8)) state = state * 31 + static_cast<unsigned char>(c);
  for (size_t at = 0;;) {
    state = state * 1664525u + 1013904223u;
    at += 1 + (state >> 24) % 97;
    if (at >= input.size()) break;
    random.push_back(at);
  }
  FUZZ_CHECK(parse(input, random, limits, head_request) == whole);
}

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace popgate::fuzz;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const bool head_request : {false, true}) {  // after a HEAD request, no body whatever the head says
    check_every_cut(input, HttpResponseLimits{}, head_request);
    check_every_cut(input, HttpResponseLimits{.max_header_bytes = 200}, head_request);
  }
  return 0;
}
