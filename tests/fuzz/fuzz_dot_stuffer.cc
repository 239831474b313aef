// fuzz_dot_stuffer: DotStuffer on any message, cut into chunks at random points. The wire form
// must not depend on the chunking, must decode (DotUnstuffer, fed in other chunks) to the message
// with CRLF line ends, and message_octets() must be what LIST promised: the message's CRLF size.
//
// Input layout (FuzzedDataProvider): chunk sizes from the back, the message from the front.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/pop3/dot_stuffer.h"
#include "tests/fuzz/dot_unstuffer.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

// Mostly small chunks, so that CRLFs and dots are cut; sometimes large ones, past the 16-octet
// blocks the stuffer scans and their edges.
constexpr size_t kMaxSmallChunk = 16;
constexpr size_t kMaxLargeChunk = 2048;

// The message as RETR sends it: every bare LF becomes CRLF; CRLF and bare CR stay.
std::string with_crlf_line_ends(std::string_view message) {
  std::string out;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) out += '\r';
    out += message[i];
  }
  return out;
}

std::string stuff(const std::vector<std::string>& chunks, uint64_t& message_octets) {
  pop3::DotStuffer stuffer;
  std::string wire;
  for (const std::string& chunk : chunks) stuffer.feed(chunk, wire);
  stuffer.finish(wire);
  message_octets = stuffer.message_octets();
  return wire;
}

// Decodes `wire` in chunks whose sizes follow a small generator seeded by the input, so the
// client side is cut at other points than the server side.
std::string unstuff(std::string_view wire, uint32_t seed) {
  DotUnstuffer unstuffer;
  std::string body;
  uint32_t state = seed | 1;
  while (!wire.empty()) {
    state = state * 1664525u + 1013904223u;
    const size_t n = std::min<size_t>(wire.size(), (state >> 24) % 17);
    unstuffer.feed(wire.substr(0, n), body);
    FUZZ_CHECK(unstuffer.status() != DotUnstuffer::Status::Malformed);
    FUZZ_CHECK(unstuffer.status() == DotUnstuffer::Status::InBody || n == wire.size());
    wire.remove_prefix(n);
  }
  FUZZ_CHECK(unstuffer.status() == DotUnstuffer::Status::Complete);
  return body;
}

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace popgate::fuzz;
  FuzzedDataProvider input(data, size);
  std::vector<std::string> chunks;
  std::string message;
  while (input.remaining_bytes() > 0) {
    const size_t max = input.ConsumeBool() ? kMaxLargeChunk : kMaxSmallChunk;
    chunks.push_back(input.ConsumeBytesAsString(input.ConsumeIntegralInRange<size_t>(0, max)));
    message += chunks.back();
  }

  uint64_t octets_chunked = 0;
  uint64_t octets_whole = 0;
  const std::string wire = stuff(chunks, octets_chunked);
  FUZZ_CHECK(wire == stuff({message}, octets_whole));  // the chunking changes nothing
  FUZZ_CHECK(octets_chunked == octets_whole);

  const std::string expected = with_crlf_line_ends(message);
  FUZZ_CHECK(octets_chunked == expected.size());
  // finish() ends an unterminated last line with a CRLF the client cannot tell from the message's.
  const bool terminated = expected.empty() || expected.ends_with("\r\n");
  FUZZ_CHECK(unstuff(wire, static_cast<uint32_t>(size) * 2654435761u + (size > 0 ? data[0] : 0u)) ==
             (terminated ? expected : expected + "\r\n"));
  return 0;
}
