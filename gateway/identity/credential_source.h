// CredentialSource: where the secret popgate presents upstream for one identity comes from
// (a static secret from a file or the environment, or an OAuth2 access token).
#pragma once

#include <functional>
#include <memory>

#include "adapters/mailbox.h"
#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate {

// Destroying it cancels the fetch: its callback never runs afterwards.
class PendingFetch {
 public:
  virtual ~PendingFetch() = default;
};
using PendingFetchPtr = std::unique_ptr<PendingFetch>;

class CredentialSource {
 public:
  using Done = std::function<void(Result<SecretString>)>;
  virtual ~CredentialSource() = default;

  // Runs `done` once, later, on the loop thread (never inside the call), unless the returned
  // handle is destroyed first. Failures are ErrorKind::Temporary (a refresh failed, the
  // identity provider is down) or ErrorKind::LoginDelay (throttled, with retry_after_ms).
  virtual PendingFetchPtr fetch(Done done) = 0;

  // Password (static secret) or BearerToken (OAuth2 access token).
  virtual CredentialKind kind() const = 0;
};

using CredentialSourcePtr = std::shared_ptr<CredentialSource>;

}  // namespace popgate

namespace popgate {

// The CredentialSource of a named OAuth2 client (from the OAuth2 configuration), for the
// accounts file's "oauth2": "client-name". An Error (Permanent) names what is wrong with it.
using OAuth2ClientResolver = std::function<Result<CredentialSourcePtr>(const std::string& client)>;

}  // namespace popgate
