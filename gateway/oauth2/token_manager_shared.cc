// OAuth2TokenManager with shared tokens: one refresh for every replica (shared_tokens.h).
//
// The steps of one refresh, each after the store's answer: hand the store rotated tokens it has
// not taken yet; read; use a fresh stored access token if there is one; take the refresh lease
// (or wait for the replica that holds it); read again; refresh with the stored refresh token (or,
// when the store has none, the token_dir file's: the import); store the outcome by
// compare-and-set. The identity provider never sees a refresh token twice, because only the
// lease holder presents one, and only the newest the store holds.
#include <algorithm>

#include "gateway/admin/metrics.h"
#include "gateway/log.h"
#include "gateway/oauth2/token_manager.h"
#include "gateway/oauth2/token_manager_client.h"

namespace popgate::oauth2 {

void OAuth2TokenManager::shared_refresh(ClientState& client) {
  if (!client.unsaved_version) return shared_read(client);
  // The last refresh rotated the refresh token, and the store could not take it: until it does,
  // every replica would present the old one, which the identity provider takes for reuse.
  shared_->replace(client.config.name, *client.unsaved_version, held_tokens(client),
                   [this, alive = alive_.watch(), &client](Result<bool> stored) {
                     if (!alive) return;
                     if (!stored) return shared_unreachable(client, stored.error());
                     // Stored, or replaced meanwhile by a newer grant (`popgate oauth login`): that one wins.
                     client.unsaved_version.reset();
                     shared_read(client);
                   });
}

void OAuth2TokenManager::shared_read(ClientState& client) {
  shared_->read(client.config.name, [this, alive = alive_.watch(), &client](Result<SharedTokens::Read> read) {
    if (!alive) return;
    if (!read) return shared_unreachable(client, read.error());
    if (adopt(client, read.value())) return;
    shared_->lock(client.config.name, [this, alive = alive_.watch(), &client](Result<bool> locked) {
      if (!alive) return;
      if (!locked) return shared_unreachable(client, locked.error());
      if (!locked.value()) return wait_for_other_replica(client);
      // Under the lease: read again, since the replica that held it a moment ago may have stored.
      shared_->read(client.config.name,
                    [this, alive = alive_.watch(), &client](Result<SharedTokens::Read> again) {
                      if (!alive) return;
                      if (!again) {
                        shared_->unlock(client.config.name);
                        return shared_unreachable(client, again.error());
                      }
                      if (adopt(client, again.value())) return shared_->unlock(client.config.name);
                      shared_locked(client, std::move(again).value());
                    });
    });
  });
}

void OAuth2TokenManager::shared_locked(ClientState& client, SharedTokens::Read read) {
  const bool imported = !read.tokens;
  SecretString presented = imported ? client.refresh_token : read.tokens->refresh_token;
  if (presented.empty()) {
    shared_->unlock(client.config.name);
    return fail(
        client,
        make_error(ErrorKind::Temporary, "no refresh token stored; " + login_hint(client.config.name)),
        false);
  }
  client.refresh_token = presented;
  // The endpoint belongs to the client's state, which the manager keeps for its whole life.
  client.endpoint->refresh(presented, client.config.scope,
                           [this, &client, version = std::move(read.version), presented,
                            imported](Result<TokenResponse> result) mutable {
                             shared_refreshed(client, std::move(version), std::move(presented), imported,
                                              std::move(result));
                           });
}

void OAuth2TokenManager::shared_refreshed(ClientState& client, std::string version, SecretString presented,
                                          bool imported, Result<TokenResponse> result) {
  if (refresh_failed(client, result)) return shared_->unlock(client.config.name);
  TokenSet& tokens = *result.value().tokens;
  // Without a new refresh token the one presented stays valid (RFC 6749 §6: rotation is optional).
  if (!tokens.refresh_token.empty()) client.refresh_token = std::move(tokens.refresh_token);
  keep_access_token(client, tokens);
  presented.wipe();
  shared_->replace(client.config.name, version, held_tokens(client),
                   [this, alive = alive_.watch(), &client, version, imported](Result<bool> stored) {
                     if (!alive) return;
                     const std::string& name = client.config.name;
                     if (!stored) {
                       // Kept here, and handed to the store before this replica refreshes again.
                       client.unsaved_version = version;
                       log::Line(log::Level::Error, "oauth_token_store_failed")
                           .field("client", name)
                           .field("reason", stored.error().detail);
                     } else if (!stored.value()) {
                       // Replaced while we refreshed: someone ran `popgate oauth login`. Our access token is
                       // good; the next refresh starts from theirs.
                       log::Line(log::Level::Warn, "oauth_tokens_replaced_meanwhile").field("client", name);
                       if (metrics_) metrics_->state_store().shared_token(SharedTokenOutcome::Conflict);
                     } else {
                       if (imported)
                         log::Line(log::Level::Info, "oauth_refresh_token_imported").field("client", name);
                       if (metrics_) metrics_->state_store().shared_token(SharedTokenOutcome::Refreshed);
                     }
                     succeed(client, true);
                   });
}

bool OAuth2TokenManager::adopt(ClientState& client, const SharedTokens::Read& read) {
  const uint64_t wall = unix_ms();
  if (!read.tokens || read.tokens->access_token.empty() || wall >= read.tokens->fresh_until_unix_ms)
    return false;
  const uint64_t now = now_ms();
  client.access_token = read.tokens->access_token;
  client.refresh_token = read.tokens->refresh_token;
  client.fresh_until_ms = now + (read.tokens->fresh_until_unix_ms - wall);
  client.expires_ms =
      now + (read.tokens->expires_at_unix_ms > wall ? read.tokens->expires_at_unix_ms - wall : 0);
  client.expires_ms = std::max(client.expires_ms, client.fresh_until_ms);
  if (metrics_) metrics_->state_store().shared_token(SharedTokenOutcome::Adopted);
  succeed(client, false);
  return true;
}

void OAuth2TokenManager::wait_for_other_replica(ClientState& client) {
  const uint64_t now = now_ms();
  if (client.wait_until_ms == 0) client.wait_until_ms = now + options_.shared_wait_ms;
  if (now >= client.wait_until_ms) {
    return fail(client,
                make_error(ErrorKind::Temporary, "OAuth2 client " + client.config.name +
                                                     ": another replica's refresh did not finish in time"),
                false);
  }
  client.poll_timer->start(options_.shared_poll_ms, [this, &client] { shared_read(client); });
}

void OAuth2TokenManager::shared_unreachable(ClientState& client, const Error& error) {
  const uint64_t now = now_ms();
  if (!client.access_token.empty() && now < client.expires_ms) {
    // Still valid: used until it expires. Refreshing outside the store could present a refresh
    // token another replica has rotated already; the store is asked again a little later.
    client.fresh_until_ms = std::min(client.expires_ms, now + 5 * options_.min_backoff_ms);
    log::Line(log::Level::Warn, "oauth_refresh_deferred")
        .field("client", client.config.name)
        .field("reason", "the state store is unreachable: " + error.detail)
        .field("expires_in_s", (client.expires_ms - now) / 1000);
    if (metrics_) metrics_->state_store().shared_token(SharedTokenOutcome::HeldOnly);
    client.refreshing = false;
    client.wait_until_ms = 0;
    answer(client, client.next_id - 1, Result<SecretString>(client.access_token));
    return;
  }
  fail(client,
       make_error(ErrorKind::Temporary, "OAuth2 client " + client.config.name +
                                            ": the refresh waits for the state store (refreshing outside it "
                                            "could present a rotated refresh token twice): " +
                                            error.detail),
       false);
}

StoredTokens OAuth2TokenManager::held_tokens(const ClientState& client) const {
  const uint64_t now = now_ms();
  const uint64_t wall = unix_ms();
  StoredTokens tokens;
  tokens.refresh_token = client.refresh_token;
  tokens.access_token = client.access_token;
  tokens.fresh_until_unix_ms = client.fresh_until_ms > now ? wall + (client.fresh_until_ms - now) : 0;
  tokens.expires_at_unix_ms = client.expires_ms > now ? wall + (client.expires_ms - now) : 0;
  return tokens;
}

}  // namespace popgate::oauth2
