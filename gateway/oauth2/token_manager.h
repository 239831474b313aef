// OAuth2TokenManager: access tokens for every configured OAuth2 client, on one loop. Cached until
// shortly before they expire; one refresh in flight per client while every other fetch waits for
// it (single flight); rotated refresh tokens persisted through the TokenStore; a failed refresh
// backs off so a dead identity provider is not hammered by every login.
//
// With a shared state store (share_through), refresh-token clients refresh once for every
// replica: under the store's lease, from the refresh token the store holds, the outcome stored by
// compare-and-set (shared_tokens.h); the token_dir file is only imported, when the store has none.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/identity/credential_source.h"
#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls_context.h"
#include "gateway/oauth2/oauth2_config.h"
#include "gateway/oauth2/shared_tokens.h"
#include "gateway/oauth2/token_endpoint.h"
#include "gateway/oauth2/token_store.h"

namespace popgate {
class Metrics;
}

namespace popgate::oauth2 {

struct TokenManagerOptions {
  uint64_t expiry_margin_ms = 60'000;      // refresh this long before expires_in runs out
  uint64_t default_lifetime_ms = 300'000;  // when the server sends no expires_in
  uint64_t min_backoff_ms = 1'000;         // after a failed refresh; doubles up to the max
  uint64_t max_backoff_ms = 60'000;
  uint64_t request_timeout_ms = 30'000;
  std::function<uint64_t()> now_ms;   // monotonic milliseconds; the loop's clock when empty
  std::function<uint64_t()> unix_ms;  // the wall clock, in which replicas share expiry times
  // Another replica holds the refresh lease: look again this often, for at most this long.
  uint64_t shared_poll_ms = 200;
  uint64_t shared_wait_ms = 45'000;
};

class OAuth2TokenManager {
 public:
  using Done = CredentialSource::Done;

  // `tls` verifies the token endpoints (https); `metrics` may be null.
  OAuth2TokenManager(io::Loop& loop, OAuth2Config config, std::shared_ptr<io::TlsClientContext> tls,
                     Metrics* metrics, TokenManagerOptions options = {});
  // Cancels refreshes in flight; pending fetches never complete.
  ~OAuth2TokenManager();
  OAuth2TokenManager(const OAuth2TokenManager&) = delete;
  OAuth2TokenManager& operator=(const OAuth2TokenManager&) = delete;

  // Start-up, blocking: reads the stored refresh tokens. A client without one still starts (its
  // fetches fail until `popgate oauth login` stores one); an unreadable file is an error.
  Status load_refresh_tokens();

  bool has_client(std::string_view name) const;
  // Some client has a refresh token to keep (grant refresh_token).
  bool refreshes_tokens() const;
  // Refresh-token clients keep their tokens in `shared` from now on (null: in this process and
  // token_dir). It outlives the manager, or is unset first.
  void share_through(SharedTokens* shared) { shared_ = shared; }

  // An access token for `client`: the cached one, or one from a refresh (shared by every fetch
  // that arrives while it runs). `done` runs once, later, unless the handle is destroyed first.
  // Errors: Temporary (refresh failed, revoked refresh token, backing off), Permanent (unknown
  // client: a configuration bug).
  PendingFetchPtr fetch(const std::string& client, Done done);

  // For tests: refreshes started so far, and writes of rotated tokens not yet on disk.
  uint64_t refreshes_started() const { return refreshes_started_; }
  bool store_idle() const { return !store_ || store_->idle(); }

 private:
  struct ClientState;
  class Handle;

  uint64_t now_ms() const;
  uint64_t unix_ms() const;
  void start_refresh(const std::shared_ptr<ClientState>& state);
  void finish_refresh(const std::shared_ptr<ClientState>& state, Result<TokenResponse> result);
  // A refused or failed refresh, handled (fail): true. false: `result` holds tokens.
  bool refresh_failed(ClientState& state, const Result<TokenResponse>& result);
  // The new access token, and how long it is fresh and valid.
  void keep_access_token(ClientState& state, TokenSet& tokens);
  // Every waiter gets the access token; backoff and waiting forgotten. `refreshed`: it came from
  // the identity provider just now (not from another replica).
  void succeed(ClientState& state, bool refreshed);
  void fail(ClientState& state, Error error, bool revoked);

  // The refresh for every replica (token_manager_shared.cc).
  void shared_refresh(ClientState& state);
  void shared_read(ClientState& state);
  void shared_locked(ClientState& state, SharedTokens::Read read);
  void shared_refreshed(ClientState& state, std::string version, SecretString presented, bool imported,
                        Result<TokenResponse> result);
  // Another replica fresh from the identity provider: its access token is as good as ours.
  bool adopt(ClientState& state, const SharedTokens::Read& read);
  void wait_for_other_replica(ClientState& state);
  void shared_unreachable(ClientState& state, const Error& error);
  StoredTokens held_tokens(const ClientState& state) const;
  // Answers the waiters registered up to `last_id`, one at a time (a callback may cancel others).
  static void answer(ClientState& state, uint64_t last_id, const Result<SecretString>& result);

  io::Loop& loop_;
  std::shared_ptr<io::TlsClientContext> tls_;
  Metrics* metrics_;
  TokenManagerOptions options_;
  std::unique_ptr<TokenStore> store_;
  SharedTokens* shared_ = nullptr;
  std::map<std::string, std::shared_ptr<ClientState>, std::less<>> clients_;
  io::Liveness alive_;
  uint64_t refreshes_started_ = 0;
};

}  // namespace popgate::oauth2
