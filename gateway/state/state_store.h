// StateStore: where the limits keep what replicas must share. With the local store (the default)
// that is this process alone, as a single popgate needs; with Redis (--state-store redis://...)
// every replica sees the same maildrop locks, failed-login counts, upstream backoffs and
// per-identity session counts.
//
// The process owns one StateStore; each event loop asks it for a LoopStateStore, which holds that
// loop's connection to the store and the tables built on it. The StateStore keeps count of which
// loops' connections are up, so the store going and coming back is one log line each and one
// gauge (popgate_state_store_up), however many workers there are.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "gateway/admin/metrics.h"
#include "gateway/config/config.h"
#include "gateway/io/loop.h"
#include "gateway/io/tls_context.h"
#include "gateway/limits/auth_throttle.h"
#include "gateway/limits/maildrop_lock.h"
#include "gateway/limits/upstream_governor.h"
#include "gateway/oauth2/shared_tokens.h"
#include "gateway/state/token_seal.h"
#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate {

// One loop's view of the store. Made, used and destroyed on that loop, before the StateStore.
class LoopStateStore {
 public:
  virtual ~LoopStateStore() = default;
  virtual MaildropLockTable& maildrop_locks() = 0;
  // What other replicas counted of failed logins; null with the local store.
  virtual SharedLoginFailures* login_failures() { return nullptr; }
  // The upstream identities' backoff and session cap across replicas; null with the local store.
  virtual SharedIdentityGovernor* identity_governor() { return nullptr; }
  // OAuth2 tokens sealed for every replica; null with the local store or without state_store_key_file.
  virtual oauth2::SharedTokens* oauth_tokens() { return nullptr; }
};
using LoopStateStorePtr = std::unique_ptr<LoopStateStore>;

class StateStore {
 public:
  // Start-up only: reads the password (a file read blocks) and loads the CA bundle. An Error
  // (Permanent) names the setting that is wrong.
  static Result<std::unique_ptr<StateStore>> create(const Config& config, Metrics& metrics);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // A key to seal OAuth2 tokens with was given (state_store_key_file).
  bool seals_tokens() const { return seal_.has_value(); }
  // Any thread; the loop's own connection opens at once.
  LoopStateStorePtr for_loop(io::Loop& loop);

  // The process's maildrop table: the whole lock with the local store, this replica's part of it
  // with a shared one.
  MaildropLocks& process_locks() { return process_locks_; }
  bool shared() const { return url_.shared(); }
  // For /readyz and the start-up line: "local", "redis://10.0.0.7:6379 up",
  // "redis-sentinel://10.0.0.5:26379/popgate up, master 10.0.0.7:6379",
  // "redis://10.0.0.7:6379 down: the store refused the login: WRONGPASS ...".
  std::string status() const;
  // The store is shared and one of the loops cannot reach it.
  bool down() const { return down_connections_.load() > 0; }

 private:
  class RedisLoopStore;
  StateStore(const Config& config, Metrics& metrics, SecretString password,
             std::shared_ptr<io::TlsClientContext> tls_context, std::optional<TokenSeal> seal);
  // A loop's connection went down or came up (any thread).
  void connection_changed(bool up, const std::string& reason);
  // A loop's connection that was down is closed for good (the loop ends).
  void connection_gone();
  // A loop's connection is up at `server` (any thread): with sentinels, the master they named.
  void server_found(const std::string& server);
  std::string master() const;

  const Config settings_;  // the start-up configuration: SIGHUP does not move the store
  const StateStoreUrl url_;
  Metrics& metrics_;
  const SecretString password_;
  const std::shared_ptr<io::TlsClientContext> tls_context_;
  const std::optional<TokenSeal> seal_;  // state_store_key_file's key, when one is set
  const std::string owner_prefix_;       // host name: which replica holds a lease
  MaildropLocks process_locks_;
  std::atomic<int> down_connections_{0};
  mutable std::mutex reason_mutex_;
  std::string down_reason_;  // the latest, for status()
  std::string master_;       // with sentinels: the latest master a loop found
};

}  // namespace popgate
