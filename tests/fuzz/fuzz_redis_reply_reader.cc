// fuzz_redis_reply_reader: RedisReplyReader (hiredis's reader underneath, popgate's own reply
// objects and limits) on any byte stream, as a Redis server or anything posing as one would send
// it. Whole, one byte at a time and cut where the input's first byte says, the stream must give
// the same replies up to the first failure; a failed reader stays failed; no reply is larger than
// the limits allow; and nothing is read outside what was fed (ASan). Each reply is also read as
// a sentinel's (redis_sentinel_replies.h): an address it yields has a host and a port to connect to.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/io/redis_reply_reader.h"
#include "gateway/io/redis_sentinel_replies.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

using io::RedisReply;
using io::RedisReplyLimits;
using io::RedisReplyReader;

constexpr RedisReplyLimits kLimits{.max_buffered_bytes = 4096, .max_array_elements = 64};

// The reply written back as text, checking the limits on the way.
void describe(const RedisReply& reply, std::string& out, int depth) {
  FUZZ_CHECK(depth < 16);
  FUZZ_CHECK(reply.text.size() <= kLimits.max_buffered_bytes);
  FUZZ_CHECK(reply.elements.size() <= kLimits.max_array_elements);
  out += std::to_string(static_cast<int>(reply.type));
  switch (reply.type) {
    case RedisReply::Type::Integer:
      out += ':' + std::to_string(reply.integer);
      break;
    case RedisReply::Type::Array:
      FUZZ_CHECK(reply.text.empty());
      out += '[';
      for (const RedisReply& element : reply.elements) describe(element, out, depth + 1);
      out += ']';
      break;
    case RedisReply::Type::Nil:
      FUZZ_CHECK(reply.text.empty() && reply.elements.empty());
      break;
    default:
      FUZZ_CHECK(reply.elements.empty());
      out += '"' + std::to_string(reply.text.size()) + ':' + reply.text;
  }
  out += ';';
}

// What the sentinel code would make of the reply: an address or an error, never a crash.
void read_as_sentinel_reply(const RedisReply& reply) {
  Result<std::optional<io::HostPort>> master = io::parse_master_address(reply);
  if (master.ok() && master.value()) FUZZ_CHECK(!master.value()->host.empty() && master.value()->port != 0);
  if (master.ok() && !master.value()) FUZZ_CHECK(reply.is_nil());
  Result<std::string> role = io::parse_role(reply);
  if (role.ok()) FUZZ_CHECK(reply.type == RedisReply::Type::Array && !reply.elements.empty());
  std::optional<io::HostPort> moved = io::parse_switch_master(reply, "popgate");
  if (moved)
    FUZZ_CHECK(!moved->host.empty() && moved->port != 0 && !io::is_switch_master_subscription(reply));
}

// Every reply of `stream` fed in pieces of `piece` bytes (each piece its own copy, gone after
// the feed), then the outcome.
std::string read_all(std::string_view stream, size_t piece) {
  RedisReplyReader reader(kLimits);
  std::string out;
  for (size_t at = 0; at < stream.size(); at += piece) {
    const std::string chunk(stream.substr(at, piece));
    reader.feed(chunk);
    while (std::optional<RedisReply> reply = reader.next()) {
      describe(*reply, out, 0);
      read_as_sentinel_reply(*reply);
    }
    if (reader.failed()) {
      FUZZ_CHECK(!reader.error().empty());
      FUZZ_CHECK(!reader.feed("+OK\r\n") && !reader.next().has_value());  // it stays failed
      // Where it fails may depend on the cut (a limit checked on what is buffered so far): only
      // the replies before the failure and the failure itself are compared, not later ones.
      return out + "X";
    }
  }
  return out;
}

std::string_view replies_of(std::string_view reading) {
  return reading.ends_with("X") ? reading.substr(0, reading.size() - 1) : reading;
}

void agree(std::string_view a, std::string_view b) {
  const std::string_view ra = replies_of(a), rb = replies_of(b);
  FUZZ_CHECK(ra.starts_with(rb) || rb.starts_with(ra));
  if (!a.ends_with("X") && !b.ends_with("X")) FUZZ_CHECK(a == b);
  if (ra.size() < rb.size()) FUZZ_CHECK(a.ends_with("X"));
  if (rb.size() < ra.size()) FUZZ_CHECK(b.ends_with("X"));
}

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace popgate::fuzz;
  return check_input_without_exceptions(data, size, [](std::string_view input) {
    if (input.empty()) return;
    const size_t cut = 1 + static_cast<uint8_t>(input[0]) % 32;
    const std::string_view stream = input.substr(1);
    const std::string whole = read_all(stream, std::max<size_t>(stream.size(), 1));
    const std::string bytewise = read_all(stream, 1);
    const std::string pieces = read_all(stream, cut);
    // Where a limit strikes may depend on the cut (a bulk string just under it is refused
    // trickling in, once what waits passes the limit, but built whole), so readings agree on the
    // replies up to the first failure: one is a prefix of the other, and all agree if none failed.
    agree(whole, bytewise);
    agree(whole, pieces);
  });
}
