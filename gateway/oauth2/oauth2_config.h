// OAuth2 clients as configured in the config file's "oauth2_clients" object, and the token
// directory. Parsed and checked at start-up (secrets and keys are read then).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/oauth2/client_assertion.h"
#include "protocol/common/secret.h"

namespace popgate::oauth2 {

enum class Grant {
  RefreshToken,       // a user's mailbox: the refresh token from `popgate oauth login`
  ClientCredentials,  // an application's own access (Microsoft 365 app-only IMAP)
};

struct OAuth2ClientConfig {
  std::string name;                           // the key in "oauth2_clients": [A-Za-z0-9._-], no leading '.'
  std::string token_endpoint;                 // https:// (http:// only to a loopback address)
  std::string device_authorization_endpoint;  // for `popgate oauth login`; may be empty
  std::string client_id;
  SecretString client_secret;                           // from client_secret_file / client_secret_env
  std::shared_ptr<const ClientAssertionSigner> signer;  // from private_key_file (+ key_id)
  std::string scope;
  Grant grant = Grant::RefreshToken;
};

struct OAuth2Config {
  std::map<std::string, OAuth2ClientConfig, std::less<>> clients;
  std::string token_dir;  // where refresh tokens live; needed by refresh_token clients
};

// `clients_json` is the "oauth2_clients" object as JSON text (Config keeps it raw). Reads secret
// files, environment variables and key files. Throws ConfigError naming the client and field.
OAuth2Config parse_oauth2_config(std::string_view clients_json, std::string token_dir);

}  // namespace popgate::oauth2
