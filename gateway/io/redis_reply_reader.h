// RedisReplyReader: sans-I/O RESP2 reply parsing (hiredis's reader), one reply per step.
//
// Fed bytes from any split, it hands back complete replies in order. hiredis parses; the reply
// objects are built here (redisReplyObjectFunctions), so the tree is popgate's own type and its
// size is bounded: a bulk string or an array over the limits, a reply nested deeper than hiredis
// allows, or bytes that are not RESP make the reader fail, for good, with a reason. A store that
// sends nonsense gets its connection closed; it never gets memory without bound.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/io/redis_reply.h"

struct redisReader;

namespace popgate::io {

struct RedisReplyLimits {
  // Bytes fed but not yet taken as replies: the most one incomplete reply may occupy.
  size_t max_buffered_bytes = 1024 * 1024;
  size_t max_array_elements = 4096;  // per array
};

class RedisReplyReader {
 public:
  explicit RedisReplyReader(RedisReplyLimits limits = {});
  ~RedisReplyReader();
  RedisReplyReader(const RedisReplyReader&) = delete;
  RedisReplyReader& operator=(const RedisReplyReader&) = delete;

  // Takes the bytes (copied). False once the reader has failed.
  bool feed(std::string_view bytes);
  // The next complete reply; nullopt when none is complete yet or the reader has failed.
  std::optional<RedisReply> next();

  bool failed() const { return !error_.empty(); }
  // Why it failed ("Protocol error, got \"x\" as reply type byte", "reply over 1048576 bytes").
  const std::string& error() const { return error_; }

 private:
  void fail(std::string reason);
  size_t buffered() const;

  RedisReplyLimits limits_;
  redisReader* reader_;
  std::string error_;
};

}  // namespace popgate::io
