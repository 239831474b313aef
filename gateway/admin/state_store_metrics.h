// StateStoreMetrics: the shared state store (gateway/state/) as operators watch it. Counters are
// process-wide and thread-safe (prometheus-cpp's are atomic); every worker's connection counts here.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>

namespace popgate {

// Why a maildrop lock was refused: another session of this replica holds it, another replica
// does, or the store could not say (unreachable with --state-store-failure closed).
enum class LockRefusal { Session, Replica, Store };
// What went wrong talking to the store.
enum class StoreError { Unreachable, Timeout, Reply, Protocol };
// How a replica came by an OAuth2 access token with shared tokens: it refreshed for every replica,
// took the one another replica had stored, found the stored tokens replaced meanwhile (by
// `popgate oauth login`) after refreshing, or kept using its own valid token while the store was
// unreachable.
enum class SharedTokenOutcome { Refreshed, Adopted, Conflict, HeldOnly };

class StateStoreMetrics {
 public:
  explicit StateStoreMetrics(prometheus::Registry& registry);

  // 1 while every connection to the store is up (and always with the local store), else 0.
  void set_up(bool up) { up_->Set(up ? 1 : 0); }
  void command_completed(double seconds) { duration_->Observe(seconds); }
  void error(StoreError kind) { errors_[static_cast<size_t>(kind)]->Increment(); }
  void lock_refused(LockRefusal holder) { lock_refusals_[static_cast<size_t>(holder)]->Increment(); }
  // A renewal found the lease held by someone else.
  void lease_lost() { lease_losses_->Increment(); }
  // A renewal found no lease at all (the store restarted empty, or the lease was taken while the
  // store was unreachable) and took it again.
  void lease_retaken() { lease_retakes_->Increment(); }
  // A lock taken while the store was unreachable (--state-store-failure open): this replica's only.
  void lock_local_only() { local_only_->Increment(); }
  void shared_token(SharedTokenOutcome outcome) { shared_tokens_[static_cast<size_t>(outcome)]->Increment(); }

 private:
  prometheus::Gauge* up_ = nullptr;
  prometheus::Histogram* duration_ = nullptr;
  std::array<prometheus::Counter*, 4> errors_{};
  std::array<prometheus::Counter*, 3> lock_refusals_{};
  prometheus::Counter* lease_losses_ = nullptr;
  prometheus::Counter* lease_retakes_ = nullptr;
  prometheus::Counter* local_only_ = nullptr;
  std::array<prometheus::Counter*, 4> shared_tokens_{};
};

}  // namespace popgate
