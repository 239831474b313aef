// Failure counters in Redis: INCR with an expiry set by the first failure of a window, read with MGET.
#include "gateway/state/redis_login_failures.h"

#include <charconv>

#include "gateway/io/loop.h"
#include "gateway/log.h"

namespace popgate {
namespace {

// KEYS: the user's and the address's counters; ARGV[1]: the window in ms. A counter's window
// starts with its first failure, as in AuthThrottle.
const io::RedisScript& count_script() {
  static const io::RedisScript script(R"lua(for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 1
)lua");
  return script;
}

// A counter as MGET gives it: a bulk string of digits, or nil (no failures in the window).
uint64_t count_of(const io::RedisReply& reply) {
  if (reply.type != io::RedisReply::Type::String) return 0;
  uint64_t count = 0;
  std::from_chars(reply.text.data(), reply.text.data() + reply.text.size(), count);
  return count;
}

void ignore_reply(Result<io::RedisReply>) {}

}  // namespace

class RedisLoginFailures::Pending final : public PendingCheck {
 public:
  io::Liveness alive;
};

RedisLoginFailures::RedisLoginFailures(io::RedisConnection& store, StateStoreMetrics& metrics,
                                       std::string key_prefix, StateStoreFailure failure)
    : store_(store), metrics_(metrics), key_prefix_(std::move(key_prefix)), failure_(failure) {}

RedisLoginFailures::~RedisLoginFailures() {
  alive_.revoke();
}

std::string RedisLoginFailures::user_key(std::string_view user) const {
  return key_prefix_ + "user:" + AuthThrottle::user_key(user);
}

std::string RedisLoginFailures::address_key(const std::string& address) const {
  return key_prefix_ + "address:" + address;
}

SharedLoginFailures::PendingCheckPtr RedisLoginFailures::check(const std::string& address,
                                                               std::string_view user,
                                                               const AuthThrottleSettings& settings,
                                                               Checked done) {
  auto pending = std::make_unique<Pending>();
  const uint64_t began = io::monotonic_ns();
  store_.command({"MGET", user_key(user), address_key(address)}, [this, table_alive = alive_.watch(),
                                                                  alive = pending->alive.watch(), began,
                                                                  settings, done = std::move(done)](
                                                                     Result<io::RedisReply> reply) {
    if (!table_alive || !alive) return;
    metrics_.command_completed(io::seconds_since(began));
    if (!reply || reply.value().type != io::RedisReply::Type::Array || reply.value().elements.size() != 2) {
      metrics_.error(reply ? StoreError::Reply : StoreError::Unreachable);
      if (failure_ == StateStoreFailure::Closed) {
        return done(make_error(ErrorKind::Temporary,
                               "failed logins cannot be checked: " +
                                   (reply ? "the state store answered " + reply.value().text.substr(0, 200)
                                          : reply.error().detail)));
      }
      return done(false);  // open: the replica's own counts decide
    }
    const uint64_t by_user = count_of(reply.value().elements[0]);
    const uint64_t by_address = count_of(reply.value().elements[1]);
    const bool locked =
        (settings.max_failures_per_user > 0 && by_user >= settings.max_failures_per_user) ||
        (settings.max_failures_per_address > 0 && by_address >= settings.max_failures_per_address);
    done(locked);
  });
  return pending;
}

void RedisLoginFailures::record_failure(const std::string& address, std::string_view user,
                                        const AuthThrottleSettings& settings) {
  store_.eval(count_script(), {user_key(user), address_key(address)}, {std::to_string(settings.window_ms)},
              [this, alive = alive_.watch()](Result<io::RedisReply> reply) {
                if (alive && (!reply || reply.value().is_error())) {
                  metrics_.error(reply ? StoreError::Reply : StoreError::Unreachable);
                }
              });
}

void RedisLoginFailures::record_success(std::string_view user) {
  // As AuthThrottle: the name's failures are forgotten, not the address's.
  store_.command({"DEL", user_key(user)}, ignore_reply);
}

}  // namespace popgate
