// Lease owner tokens and the release script.
#include "gateway/state/lease_scripts.h"

#include <openssl/rand.h>

#include <cstdint>

#include "protocol/common/hex.h"

namespace popgate {

std::string lease_owner_token(const std::string& prefix) {
  uint8_t random[16];
  RAND_bytes(random, sizeof random);
  return prefix + lower_hex(random);
}

const io::RedisScript& release_lease_script() {
  static const io::RedisScript script(R"lua(if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua");
  return script;
}

}  // namespace popgate
