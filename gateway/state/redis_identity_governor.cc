// Identity places and backoffs in Redis: a sorted set of leased tokens and an expiring key.
#include "gateway/state/redis_identity_governor.h"

#include <algorithm>
#include <utility>

#include "gateway/io/timer.h"
#include "gateway/state/lease_scripts.h"

namespace popgate {
namespace {

// KEYS[1] the identity's places, KEYS[2] its backoff; ARGV[1] our token, ARGV[2] the cap (0: none),
// ARGV[3] the lease in ms. {1, ms left} backing off; {2, 0} capped; {0, 0} admitted (and the token
// holds a place when there is a cap).
const io::RedisScript& admit_script() {
  static const io::RedisScript script(R"lua(local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then return {1, wait} end
local cap = tonumber(ARGV[2])
if cap == 0 then return {0, 0} end
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= cap then return {2, 0} end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {0, 0}
)lua");
  return script;
}

// KEYS[1] the places; ARGV[1] our token, ARGV[2] the lease. Taken again if it was lost (the store
// restarted empty).
const io::RedisScript& renew_script() {
  static const io::RedisScript script(R"lua(local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
)lua");
  return script;
}

// KEYS[1] the backoff; ARGV[1] its length. Never shortens one in force.
const io::RedisScript& backoff_script() {
  static const io::RedisScript script(R"lua(if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
)lua");
  return script;
}

void ignore_reply(Result<io::RedisReply>) {}

}  // namespace

// One upstream session's place in its identity's semaphore, renewed while it lives.
class RedisIdentityGovernor::Place {
 public:
  Place(RedisIdentityGovernor& owner, std::string key, std::string token)
      : owner_(owner),
        owner_alive_(owner.alive_.watch()),
        key_(std::move(key)),
        token_(std::move(token)),
        renew_timer_(owner.loop_) {
    schedule_renewal();
  }
  ~Place() {
    if (owner_alive_) owner_.store_.command({"ZREM", key_, token_}, ignore_reply);
  }

 private:
  void schedule_renewal() {
    renew_timer_.start(std::max<uint64_t>(1, owner_.lease_ms_ / 3), [this] {
      if (!owner_alive_) return;
      owner_.store_.eval(renew_script(), {key_}, {token_, std::to_string(owner_.lease_ms_)},
                         [this, alive = alive_.watch()](Result<io::RedisReply> reply) {
                           if (!alive || !owner_alive_) return;
                           if (!reply) owner_.metrics_.error(StoreError::Unreachable);
                           schedule_renewal();
                         });
    });
  }

  RedisIdentityGovernor& owner_;
  io::Liveness::Watch owner_alive_;
  std::string key_;
  std::string token_;
  io::Timer renew_timer_;
  io::Liveness alive_;
};

class RedisIdentityGovernor::Pending final : public PendingAdmission {
 public:
  io::Liveness alive;
};

RedisIdentityGovernor::RedisIdentityGovernor(io::Loop& loop, io::RedisConnection& store,
                                             StateStoreMetrics& metrics, std::string key_prefix,
                                             uint64_t lease_ms, StateStoreFailure failure)
    : loop_(loop),
      store_(store),
      metrics_(metrics),
      key_prefix_(std::move(key_prefix)),
      lease_ms_(lease_ms),
      failure_(failure) {}

RedisIdentityGovernor::~RedisIdentityGovernor() {
  alive_.revoke();
}

SharedIdentityGovernor::PendingAdmissionPtr RedisIdentityGovernor::admit(
    const std::string& identity, const UpstreamGovernorSettings& settings, Admitted done) {
  auto pending = std::make_unique<Pending>();
  const std::string places = key_prefix_ + identity + ":sessions";
  std::string token = lease_owner_token();
  const uint64_t began = io::monotonic_ns();
  store_.eval(
      admit_script(), {places, key_prefix_ + identity + ":backoff"},
      {token, std::to_string(settings.max_sessions_per_identity), std::to_string(lease_ms_)},
      [this, owner_alive = alive_.watch(), alive = pending->alive.watch(), began, places, token,
       capped = settings.max_sessions_per_identity > 0,
       done = std::move(done)](Result<io::RedisReply> reply) {
        if (!owner_alive) return;
        metrics_.command_completed(io::seconds_since(began));
        const bool readable =
            reply && reply.value().type == io::RedisReply::Type::Array && reply.value().elements.size() == 2;
        const int64_t verdict = readable ? reply.value().elements[0].integer : -1;
        if (!alive) {
          // Nobody is left to hold the place.
          if (verdict == 0 && capped) store_.command({"ZREM", places, token}, ignore_reply);
          return;
        }
        IdentityGovernor::Admission admission;
        if (verdict == 1) {
          admission.verdict = IdentityGovernor::Verdict::BackingOff;
          admission.wait_ms = static_cast<uint64_t>(std::max<int64_t>(0, reply.value().elements[1].integer));
          return done(std::move(admission));
        }
        if (verdict == 2) {
          admission.verdict = IdentityGovernor::Verdict::Capped;
          return done(std::move(admission));
        }
        if (verdict == 0) {
          if (capped) {
            // The place goes with the upstream session, on this loop whichever thread lets it go.
            auto place = std::make_shared<Place>(*this, places, token);
            admission.slot = IdentityGovernor::Slot(
                [loop = &loop_, place]() mutable { loop->defer([place = std::move(place)] {}); });
          }
          return done(std::move(admission));
        }
        metrics_.error(reply ? StoreError::Reply : StoreError::Unreachable);
        if (failure_ == StateStoreFailure::Closed) {
          return done(make_error(ErrorKind::Temporary,
                                 "the identity's sessions cannot be counted: " +
                                     (reply ? "the state store answered " + reply.value().text.substr(0, 200)
                                            : reply.error().detail)));
        }
        done(std::move(admission));  // open: the replica's own governor decided
      });
  return pending;
}

void RedisIdentityGovernor::record_backoff(const std::string& identity, uint64_t backoff_ms) {
  if (backoff_ms == 0) return;
  store_.eval(backoff_script(), {key_prefix_ + identity + ":backoff"}, {std::to_string(backoff_ms)},
              ignore_reply);
}

}  // namespace popgate
