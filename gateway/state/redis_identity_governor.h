// RedisIdentityGovernor: the per-identity upstream session cap and upstream backoff across
// replicas (--max-upstream-sessions-per-identity, --upstream-backoff).
//
// An identity's sessions are a leased semaphore: a sorted set of session tokens scored by when
// each lease runs out. A login that finds fewer live tokens than the cap adds its own, renews it
// every third of the lease while its upstream session lives and removes it when that ends; a
// replica killed outright loses its places when their leases run out. A backoff is a key that
// expires when the backoff ends: every replica answers the identity's logins itself until then.
// All of it in scripts, with the store's own clock, so replicas' clocks need not agree.
#pragma once

#include <cstdint>
#include <string>

#include "gateway/admin/state_store_metrics.h"
#include "gateway/config/state_store_url.h"
#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/redis_connection.h"
#include "gateway/limits/upstream_governor.h"

namespace popgate {

class RedisIdentityGovernor final : public SharedIdentityGovernor {
 public:
  // `loop`, `store` and `metrics` outlive it; a Slot that goes after it lets its lease run out.
  RedisIdentityGovernor(io::Loop& loop, io::RedisConnection& store, StateStoreMetrics& metrics,
                        std::string key_prefix, uint64_t lease_ms, StateStoreFailure failure);
  ~RedisIdentityGovernor() override;

  PendingAdmissionPtr admit(const std::string& identity, const UpstreamGovernorSettings& settings,
                            Admitted done) override;
  void record_backoff(const std::string& identity, uint64_t backoff_ms) override;

 private:
  class Place;
  class Pending;

  io::Loop& loop_;
  io::RedisConnection& store_;
  StateStoreMetrics& metrics_;
  const std::string key_prefix_;
  const uint64_t lease_ms_;
  const StateStoreFailure failure_;
  io::Liveness alive_;
};

}  // namespace popgate
