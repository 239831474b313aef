// RESP2 requests: a command as an array of bulk strings, and Lua scripts named by their SHA-1.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::io {

// One command, its arguments binary-safe: `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`.
std::string encode_redis_command(const std::vector<std::string>& args);
std::string encode_redis_command(std::initializer_list<std::string_view> args);

// A Lua script run by EVALSHA, the way Redis caches it: by the SHA-1 of its source, in lower-case
// hex. Made once at start-up; the source goes over the wire only after NOSCRIPT.
struct RedisScript {
  explicit RedisScript(std::string source);
  std::string source;
  std::string sha1;
};

}  // namespace popgate::io
