// The state store's metric families and their children, made up front.
#include "gateway/admin/state_store_metrics.h"

namespace popgate {

StateStoreMetrics::StateStoreMetrics(prometheus::Registry& registry) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  up_ = &BuildGauge()
             .Name("popgate_state_store_up")
             .Help("1 while the state store shared by replicas answers (always 1 with the local store)")
             .Register(registry)
             .Add({});
  up_->Set(1);
  // From 50 µs (loopback) to the longest command timeout worth having.
  duration_ = &BuildHistogram()
                   .Name("popgate_state_store_command_duration_seconds")
                   .Help("State store commands, from sending to the reply")
                   .Register(registry)
                   .Add({}, prometheus::Histogram::BucketBoundaries{0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                                    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                    0.25, 0.5, 1, 2.5, 5});
  auto& errors = BuildCounter()
                     .Name("popgate_state_store_errors_total")
                     .Help("State store commands that failed, by kind")
                     .Register(registry);
  constexpr std::array<const char*, 4> kErrorNames = {"unreachable", "timeout", "reply", "protocol"};
  for (size_t i = 0; i < kErrorNames.size(); ++i) errors_[i] = &errors.Add({{"kind", kErrorNames[i]}});
  auto& refusals = BuildCounter()
                       .Name("popgate_maildrop_lock_refusals_total")
                       .Help("Logins refused because the maildrop was locked, by who held it")
                       .Register(registry);
  constexpr std::array<const char*, 3> kHolderNames = {"session", "replica", "store"};
  for (size_t i = 0; i < kHolderNames.size(); ++i)
    lock_refusals_[i] = &refusals.Add({{"holder", kHolderNames[i]}});
  lease_losses_ = &BuildCounter()
                       .Name("popgate_maildrop_lease_losses_total")
                       .Help("Maildrop leases found held by another session at renewal")
                       .Register(registry)
                       .Add({});
  lease_retakes_ = &BuildCounter()
                        .Name("popgate_maildrop_lease_retakes_total")
                        .Help("Maildrop leases found missing at renewal and taken again")
                        .Register(registry)
                        .Add({});
  local_only_ = &BuildCounter()
                     .Name("popgate_maildrop_locks_local_only_total")
                     .Help("Maildrop locks taken by this replica alone while the state store was unreachable")
                     .Register(registry)
                     .Add({});
  auto& tokens = BuildCounter()
                     .Name("popgate_oauth_shared_tokens_total")
                     .Help("OAuth2 access tokens with a shared state store, by how this replica came by them")
                     .Register(registry);
  constexpr std::array<const char*, 4> kOutcomeNames = {"refreshed", "adopted", "conflict", "held_only"};
  for (size_t i = 0; i < kOutcomeNames.size(); ++i)
    shared_tokens_[i] = &tokens.Add({{"outcome", kOutcomeNames[i]}});
}

}  // namespace popgate
