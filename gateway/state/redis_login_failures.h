// RedisLoginFailures: the login throttle's failure counts (--auth-throttle-*) across replicas.
//
// Each failure adds one to two counters in the store, the user name's (without case) and the
// client address's (IPv6 by /64), each expiring a window after its first failure, as AuthThrottle
// counts in the process. Before asking the upstream a login reads both: at a threshold, the name
// or the address is locked out on every replica. Counting goes in the background; the read waits
// at most the command timeout, and a store that cannot answer counts as "not locked out" (failure
// open: the replica's own counts still apply) or refuses the login (failure closed).
#pragma once

#include <string>

#include "gateway/admin/state_store_metrics.h"
#include "gateway/config/state_store_url.h"
#include "gateway/io/liveness.h"
#include "gateway/io/redis_connection.h"
#include "gateway/limits/auth_throttle.h"

namespace popgate {

class RedisLoginFailures final : public SharedLoginFailures {
 public:
  // `store` and `metrics` outlive it; `key_prefix` is the store's prefix and "auth:".
  RedisLoginFailures(io::RedisConnection& store, StateStoreMetrics& metrics, std::string key_prefix,
                     StateStoreFailure failure);
  ~RedisLoginFailures() override;

  PendingCheckPtr check(const std::string& address, std::string_view user,
                        const AuthThrottleSettings& settings, Checked done) override;
  void record_failure(const std::string& address, std::string_view user,
                      const AuthThrottleSettings& settings) override;
  void record_success(std::string_view user) override;

 private:
  class Pending;
  std::string user_key(std::string_view user) const;
  std::string address_key(const std::string& address) const;

  io::RedisConnection& store_;
  StateStoreMetrics& metrics_;
  const std::string key_prefix_;
  const StateStoreFailure failure_;
  io::Liveness alive_;
};

}  // namespace popgate
