// make_oauth2_credential_source: the hook the accounts file resolves "oauth2" credentials through.
#include "gateway/oauth2/oauth2_credential_source.h"

#include "gateway/log.h"

namespace popgate {

Result<CredentialSourcePtr> make_oauth2_credential_source(oauth2::OAuth2TokenManager& manager,
                                                          const std::string& client_name) {
  if (!manager.has_client(client_name)) {
    return make_error(ErrorKind::Permanent,
                      "no OAuth2 client named '" + log::sanitize(client_name, 64) + "' in oauth2_clients");
  }
  return CredentialSourcePtr(std::make_shared<oauth2::OAuth2CredentialSource>(manager, client_name));
}

}  // namespace popgate
