// OAuth2CredentialSource: the CredentialSource of an identity whose upstream credential is an
// OAuth2 access token from one configured client (kind BearerToken).
#pragma once

#include <string>

#include "gateway/identity/credential_source.h"
#include "gateway/oauth2/token_manager.h"

namespace popgate {

namespace oauth2 {

class OAuth2CredentialSource final : public CredentialSource {
 public:
  // `manager` outlives the source (both live as long as the process's loop).
  OAuth2CredentialSource(OAuth2TokenManager& manager, std::string client)
      : manager_(manager), client_(std::move(client)) {}
  PendingFetchPtr fetch(Done done) override { return manager_.fetch(client_, std::move(done)); }
  CredentialKind kind() const override { return CredentialKind::BearerToken; }

 private:
  OAuth2TokenManager& manager_;
  std::string client_;
};

}  // namespace oauth2

// For the accounts file's `"oauth2": "<client name>"`: Permanent when no such client is configured.
Result<CredentialSourcePtr> make_oauth2_credential_source(oauth2::OAuth2TokenManager& manager,
                                                          const std::string& client_name);

}  // namespace popgate
