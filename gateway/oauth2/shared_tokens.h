// SharedTokens: an OAuth2 client's tokens where every replica reads them (a shared state store,
// gateway/state/redis_oauth_tokens.h), so that one replica refreshes for all of them. Identity
// providers that rotate refresh tokens (Okta, Auth0, Entra ID with rotation on) revoke the whole
// grant when an already rotated refresh token comes back; two replicas refreshing on their own
// would do exactly that.
//
// The protocol a refresh follows (OAuth2TokenManager): read; if the stored access token is still
// fresh, use it. Otherwise take the client's refresh lease, read again (another replica may have
// finished meanwhile), refresh with the stored refresh token, and replace the stored tokens only
// if they are still the ones read (compare-and-set), which also gives the lease back.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate::oauth2 {

struct StoredTokens {
  SecretString refresh_token;
  SecretString access_token;         // empty: none yet (an imported or freshly stored refresh token)
  uint64_t fresh_until_unix_ms = 0;  // use the access token until then (wall clock: replicas share it)
  uint64_t expires_at_unix_ms = 0;   // and not at all after this
};

class SharedTokens {
 public:
  struct Read {
    std::optional<StoredTokens> tokens;  // none stored yet
    // What was read, as stored: the compare-and-set compares against it ("" for none).
    std::string version;
  };
  using ReadDone = std::function<void(Result<Read>)>;
  using Done = std::function<void(Result<bool>)>;

  virtual ~SharedTokens() = default;
  // Every callback runs once, later, never inside the call; none runs after the SharedTokens is
  // gone. Errors are Temporary: the store cannot be reached or answered nonsense.
  virtual void read(const std::string& client, ReadDone done) = 0;
  // The client's refresh lease, for long enough to outlast one token request: true if it is ours
  // now, false if another replica holds it.
  virtual void lock(const std::string& client, Done done) = 0;
  // Gives the lease back, if still ours.
  virtual void unlock(const std::string& client) = 0;
  // Stores `tokens` if the stored ones are still `version` (true), and gives the lease back either way.
  virtual void replace(const std::string& client, const std::string& version, const StoredTokens& tokens,
                       Done done) = 0;
  // Stores `tokens` whatever is there (`popgate oauth login`: a new grant replaces the old one).
  virtual void overwrite(const std::string& client, const StoredTokens& tokens, Done done) = 0;
};

}  // namespace popgate::oauth2
