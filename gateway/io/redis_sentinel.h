// Talking to Redis Sentinels on the loop: SentinelResolver asks them, in order, where the master
// of a name is; SentinelWatch hears from one of them, by pub/sub, when a failover moved it.
//
// Both speak plain TCP, with no AUTH: sentinels that require a password are not supported yet.
// RedisConnection uses them when its endpoint names sentinels (redis-sentinel://).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/io/loop.h"
#include "gateway/io/redis_reply.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/timer.h"
#include "protocol/common/result.h"

namespace popgate::io {

class SentinelLink;

class SentinelResolver {
 public:
  // The master's address, or Temporary with every sentinel's reason:
  // "no sentinel answered: 10.0.0.1:26379: connection refused; ..." or
  // "sentinel 10.0.0.1:26379 does not know master 'popgate'".
  using Done = std::function<void(Result<HostPort>)>;

  // `sentinels` is not empty. `timeout_ms` is each sentinel's, for connecting and answering.
  SentinelResolver(Loop& loop, std::vector<HostPort> sentinels, std::string master_name, uint64_t timeout_ms);
  ~SentinelResolver();
  SentinelResolver(const SentinelResolver&) = delete;
  SentinelResolver& operator=(const SentinelResolver&) = delete;

  // Asks each sentinel in turn until one names the master; that one is asked first next time
  // (the client guidelines' step 1). `done` runs once, later, never inside the call, unless
  // cancel() or the destructor comes first. A resolve in progress is cancelled.
  void resolve(Done done);
  void cancel();

 private:
  void ask(size_t index);
  void on_reply(size_t index, const RedisReply& reply);
  void on_failed(size_t index, const std::string& reason);
  void finish(Result<HostPort> result);

  Loop& loop_;
  std::vector<HostPort> sentinels_;
  const std::string master_name_;
  const uint64_t timeout_ms_;
  std::unique_ptr<SentinelLink> link_;
  Done done_;
  std::vector<std::string> failures_;  // of this resolve, one per sentinel asked
  bool any_answered_ = false;
};

class SentinelWatch {
 public:
  // The sentinels moved `master_name` to `master`.
  using OnSwitch = std::function<void(const HostPort& master)>;

  struct Options {
    uint64_t timeout_ms = 2'000;  // connecting, and each answer (the subscription's, a PONG)
    uint64_t backoff_min_ms = 100;
    uint64_t backoff_max_ms = 5'000;
    // A subscription hears nothing between failovers: a PING this often tells a quiet sentinel
    // from one whose host is gone without a word (no FIN, no RST).
    uint64_t ping_interval_ms = 5'000;
  };

  // `sentinels` is not empty. Subscribes at once to +switch-master on the first sentinel that
  // lets it; a subscription that breaks, goes unanswered or cannot be made is tried again on the
  // next sentinel after a backoff.
  SentinelWatch(Loop& loop, std::vector<HostPort> sentinels, std::string master_name, Options options,
                OnSwitch on_switch);
  ~SentinelWatch();
  SentinelWatch(const SentinelWatch&) = delete;
  SentinelWatch& operator=(const SentinelWatch&) = delete;

  // For tests: a subscription is confirmed.
  bool subscribed() const { return subscribed_; }

 private:
  void open();
  void on_reply(const RedisReply& reply);
  void on_broken();
  void ping();

  Loop& loop_;
  const std::vector<HostPort> sentinels_;
  const std::string master_name_;
  const Options options_;
  OnSwitch on_switch_;
  std::unique_ptr<SentinelLink> link_;
  size_t next_ = 0;  // the sentinel to subscribe on
  bool subscribed_ = false;
  uint64_t backoff_ms_ = 0;
  Timer retry_timer_;
  Timer ping_timer_;
};

}  // namespace popgate::io
