// RESP2 command encoding and script digests.
#include "gateway/io/redis_command.h"

#include <openssl/sha.h>

#include "protocol/common/hex.h"

namespace popgate::io {
namespace {

template <typename Args>
std::string encode(const Args& args) {
  size_t size = 16;
  for (const auto& arg : args) size += arg.size() + 24;
  std::string wire;
  wire.reserve(size);
  wire += '*';
  wire += std::to_string(args.size());
  wire += "\r\n";
  for (const auto& arg : args) {
    wire += '$';
    wire += std::to_string(arg.size());
    wire += "\r\n";
    wire.append(arg.data(), arg.size());
    wire += "\r\n";
  }
  return wire;
}

}  // namespace

std::string encode_redis_command(const std::vector<std::string>& args) {
  return encode(args);
}

std::string encode_redis_command(std::initializer_list<std::string_view> args) {
  return encode(args);
}

RedisScript::RedisScript(std::string script_source) : source(std::move(script_source)) {
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const uint8_t*>(source.data()), source.size(), digest);
  sha1 = lower_hex(digest);
}

}  // namespace popgate::io
