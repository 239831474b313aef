// OAuth2TokenManager: the access-token cache, single-flight refresh, rotation and backoff.
#include "gateway/oauth2/token_manager.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "gateway/admin/metrics.h"
#include "gateway/log.h"
#include "gateway/oauth2/token_manager_client.h"

namespace popgate::oauth2 {

// A fetch's handle: destroying it forgets the waiter, so its callback never runs.
class OAuth2TokenManager::Handle final : public PendingFetch {
 public:
  Handle(std::weak_ptr<ClientState> state, uint64_t id) : state_(std::move(state)), id_(id) {}
  ~Handle() override {
    if (auto state = state_.lock()) state->waiters.erase(id_);
  }

 private:
  std::weak_ptr<ClientState> state_;
  uint64_t id_;
};

namespace {

// For an unknown client: the error arrives on the next tick unless the handle is gone.
class DeferredError final : public PendingFetch {
 public:
  DeferredError(io::Loop& loop, Error error, CredentialSource::Done done) {
    loop.defer([alive = alive_.watch(), error = std::move(error), done = std::move(done)] {
      if (!alive) return;
      done(error);
    });
  }

 private:
  io::Liveness alive_;  // goes with the handle: then the error is never delivered
};

}  // namespace

OAuth2TokenManager::OAuth2TokenManager(io::Loop& loop, OAuth2Config config,
                                       std::shared_ptr<io::TlsClientContext> tls, Metrics* metrics,
                                       TokenManagerOptions options)
    : loop_(loop), tls_(std::move(tls)), metrics_(metrics), options_(std::move(options)) {
  if (!config.token_dir.empty()) store_ = std::make_unique<TokenStore>(loop_, config.token_dir);
  for (auto& [name, client] : config.clients) {
    auto state = std::make_shared<ClientState>();
    state->config = std::move(client);
    ClientAuthentication auth{state->config.client_id, state->config.client_secret, state->config.signer};
    // Checked by parse_oauth2_config.
    std::optional<io::HttpUrl> url = io::HttpUrl::parse(state->config.token_endpoint);
    state->endpoint = std::make_unique<TokenEndpoint>(loop_, url.value_or(io::HttpUrl{}), tls_,
                                                      std::move(auth), options_.request_timeout_ms);
    state->poll_timer = std::make_unique<io::Timer>(loop_);
    clients_.emplace(name, std::move(state));
  }
}

OAuth2TokenManager::~OAuth2TokenManager() {
  alive_.revoke();
}

uint64_t OAuth2TokenManager::now_ms() const {
  return options_.now_ms ? options_.now_ms() : loop_.now_ms();
}

uint64_t OAuth2TokenManager::unix_ms() const {
  if (options_.unix_ms) return options_.unix_ms();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

bool OAuth2TokenManager::has_client(std::string_view name) const {
  return clients_.find(name) != clients_.end();
}

bool OAuth2TokenManager::refreshes_tokens() const {
  for (const auto& [name, state] : clients_) {
    if (state->config.grant == Grant::RefreshToken) return true;
  }
  return false;
}

Status OAuth2TokenManager::load_refresh_tokens() {
  for (auto& [name, state] : clients_) {
    if (state->config.grant != Grant::RefreshToken || !store_) continue;
    auto loaded = read_token_file(store_->dir(), name, /*remove_leftovers=*/true);
    if (!loaded) return loaded.error();
    if (loaded.value()) {
      state->refresh_token = std::move(*loaded.value());
    } else {
      state->reload_refresh_token = true;
      log::Line(log::Level::Warn, "oauth_no_refresh_token")
          .field("client", name)
          .field("message", "no refresh token stored yet; " + login_hint(name));
    }
  }
  return Ok{};
}

PendingFetchPtr OAuth2TokenManager::fetch(const std::string& client, Done done) {
  auto it = clients_.find(client);
  if (it == clients_.end()) {
    return std::make_unique<DeferredError>(
        loop_, make_error(ErrorKind::Permanent, "no OAuth2 client named '" + log::sanitize(client, 64) + "'"),
        std::move(done));
  }
  std::shared_ptr<ClientState> state = it->second;
  const uint64_t id = state->next_id++;
  state->waiters.emplace(id, std::move(done));
  const uint64_t now = now_ms();
  std::optional<Result<SecretString>> answer_now;
  if (!state->refreshing && !state->access_token.empty() && now < state->fresh_until_ms) {
    answer_now = Result<SecretString>(state->access_token);
  } else if (!state->refreshing && now < state->backoff_until_ms) {
    answer_now = Result<SecretString>(
        make_error(ErrorKind::Temporary,
                   "OAuth2 client " + client + ": not retrying yet after: " + state->last_failure));
  }
  if (answer_now) {
    // Never inside the call: the caller's state must be set up before its callback runs.
    loop_.defer([weak = std::weak_ptr<ClientState>(state), id, result = std::move(*answer_now)] {
      auto locked = weak.lock();
      if (!locked) return;
      auto waiter = locked->waiters.find(id);
      if (waiter == locked->waiters.end()) return;
      Done callback = std::move(waiter->second);
      locked->waiters.erase(waiter);
      callback(result);
    });
  } else if (!state->refreshing) {
    start_refresh(state);
  }
  return std::make_unique<Handle>(state, id);
}

void OAuth2TokenManager::start_refresh(const std::shared_ptr<ClientState>& state) {
  state->refreshing = true;
  ++refreshes_started_;
  if (shared_ && state->config.grant == Grant::RefreshToken) return shared_refresh(*state);
  ClientState* raw = state.get();  // the endpoint (owned by the state) never calls back after it is gone
  auto on_answer = [this, raw](Result<TokenResponse> result) {
    // finish_refresh may answer a waiter that drops the last other reference: keep the state.
    std::shared_ptr<ClientState> keep = clients_.at(raw->config.name);
    finish_refresh(keep, std::move(result));
  };
  if (state->config.grant == Grant::ClientCredentials) {
    state->endpoint->client_credentials(state->config.scope, std::move(on_answer));
    return;
  }
  auto refresh = [raw, on_answer = std::move(on_answer)]() mutable {
    raw->endpoint->refresh(raw->refresh_token, raw->config.scope, std::move(on_answer));
  };
  if (!state->reload_refresh_token || !store_) {
    if (state->refresh_token.empty()) {
      loop_.defer([this, weak = std::weak_ptr<ClientState>(state), alive = alive_.watch()] {
        if (!alive) return;
        auto locked = weak.lock();
        if (!locked) return;
        fail(*locked,
             make_error(ErrorKind::Temporary, "no refresh token stored; " + login_hint(locked->config.name)),
             false);
      });
      return;
    }
    refresh();
    return;
  }
  // The last refresh token was refused or missing: `popgate oauth login` may have stored a new one.
  store_->load(state->config.name, [this, raw, refresh = std::move(refresh)](
                                       Result<std::optional<SecretString>> loaded) mutable {
    if (loaded && loaded.value() && !loaded.value()->empty() &&
        loaded.value()->reveal() != raw->refresh_token.reveal()) {
      raw->refresh_token = std::move(*loaded.value());
      raw->reload_refresh_token = false;
      log::Line(log::Level::Info, "oauth_refresh_token_loaded").field("client", raw->config.name);
    }
    if (raw->reload_refresh_token) {
      fail(*raw,
           make_error(ErrorKind::Temporary,
                      (raw->refresh_token.empty() ? "no refresh token stored; "
                                                  : "refresh token revoked or expired; ") +
                          login_hint(raw->config.name)),
           false);
      return;
    }
    refresh();
  });
}

void OAuth2TokenManager::finish_refresh(const std::shared_ptr<ClientState>& state,
                                        Result<TokenResponse> result) {
  ClientState& client = *state;
  if (refresh_failed(client, result)) return;
  TokenSet& tokens = *result.value().tokens;
  keep_access_token(client, tokens);
  if (!tokens.refresh_token.empty() && tokens.refresh_token.reveal() != client.refresh_token.reveal() &&
      store_ && client.config.grant == Grant::RefreshToken) {
    // Rotation (RFC 6749 §6, RFC 9700 §4.14.2): the old token may be dead already; keep the new one.
    client.refresh_token = tokens.refresh_token;
    store_->save(client.config.name, std::move(tokens.refresh_token),
                 [name = client.config.name](Status saved) {
                   if (!saved) {
                     log::Line(log::Level::Error, "oauth_token_store_failed")
                         .field("client", name)
                         .field("reason", saved.error().detail);
                   }
                 });
  }
  succeed(client, true);
}

bool OAuth2TokenManager::refresh_failed(ClientState& client, const Result<TokenResponse>& result) {
  const std::string& name = client.config.name;
  if (!result) {
    fail(client, make_error(ErrorKind::Temporary, "token endpoint: " + result.error().detail), false);
    return true;
  }
  const TokenResponse& response = result.value();
  if (response.tokens) return false;
  if (response.error == TokenErrorCode::InvalidGrant) {
    client.reload_refresh_token = true;
    fail(client,
         make_error(ErrorKind::Temporary,
                    "refresh token revoked or expired for " + name + "; " + login_hint(name) +
                        (response.description.empty() ? "" : " (" + response.description + ")")),
         true);
    return true;
  }
  fail(client,
       make_error(ErrorKind::Temporary,
                  "token endpoint refused: " + response.error_name +
                      (response.description.empty() ? "" : " (" + response.description + ")")),
       false);
  return true;
}

void OAuth2TokenManager::keep_access_token(ClientState& client, TokenSet& tokens) {
  const uint64_t lifetime_ms =
      tokens.expires_in_s ? *tokens.expires_in_s * 1000 : options_.default_lifetime_ms;
  // A short-lived token is still used for half its life rather than refreshed for every login.
  const uint64_t usable_ms = std::max(
      lifetime_ms > options_.expiry_margin_ms ? lifetime_ms - options_.expiry_margin_ms : 0, lifetime_ms / 2);
  client.access_token = std::move(tokens.access_token);
  client.fresh_until_ms = now_ms() + usable_ms;
  client.expires_ms = now_ms() + lifetime_ms;
}

void OAuth2TokenManager::succeed(ClientState& client, bool refreshed) {
  client.refreshing = false;
  client.backoff_ms = 0;
  client.backoff_until_ms = 0;
  client.wait_until_ms = 0;
  client.last_failure.clear();
  if (metrics_ && refreshed) metrics_->oauth_token_refresh(OAuthRefreshResult::Ok);
  log::Line(log::Level::Debug, refreshed ? "oauth_token_refreshed" : "oauth_token_adopted")
      .field("client", client.config.name)
      .field("expires_in_s", (client.expires_ms - std::min(client.expires_ms, now_ms())) / 1000);
  answer(client, client.next_id - 1, Result<SecretString>(client.access_token));
}

void OAuth2TokenManager::fail(ClientState& state, Error error, bool revoked) {
  state.refreshing = false;
  state.access_token.wipe();
  state.fresh_until_ms = 0;
  state.expires_ms = 0;
  state.wait_until_ms = 0;
  state.backoff_ms = state.backoff_ms == 0 ? options_.min_backoff_ms
                                           : std::min(state.backoff_ms * 2, options_.max_backoff_ms);
  state.backoff_until_ms = now_ms() + state.backoff_ms;
  state.last_failure = error.detail;
  if (metrics_)
    metrics_->oauth_token_refresh(revoked ? OAuthRefreshResult::Revoked : OAuthRefreshResult::Failed);
  // One line per refresh, however many sessions waited for it; never a token.
  log::Line(log::Level::Error, revoked ? "oauth_refresh_token_revoked" : "oauth_refresh_failed")
      .field("client", state.config.name)
      .field("reason", error.detail)
      .field("retry_in_s", state.backoff_ms / 1000);
  answer(state, state.next_id - 1, Result<SecretString>(std::move(error)));
}

void OAuth2TokenManager::answer(ClientState& state, uint64_t last_id, const Result<SecretString>& result) {
  for (;;) {
    auto it = state.waiters.begin();
    if (it == state.waiters.end() || it->first > last_id) return;
    Done callback = std::move(it->second);
    state.waiters.erase(it);
    callback(result);
  }
}

}  // namespace popgate::oauth2
