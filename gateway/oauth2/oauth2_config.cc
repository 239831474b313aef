// Parses "oauth2_clients": endpoints, client authentication and grant of each OAuth2 client.
#include "gateway/oauth2/oauth2_config.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gateway/config/config.h"
#include "gateway/io/http_connection.h"
#include "gateway/io/socket_address.h"

namespace popgate::oauth2 {
namespace {

bool valid_client_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// Token endpoints receive secrets: https, except on loopback (tests, a local proxy).
std::string checked_url(const std::string& where, const std::string& text) {
  auto url = io::HttpUrl::parse(text);
  if (!url) throw ConfigError(where + ": not an http(s) URL");
  if (!url->tls && !io::is_loopback_host(url->host))
    throw ConfigError(where + ": must be https:// (http:// only on loopback)");
  return text;
}

std::string read_secret_file(const std::string& where, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(where + ": cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw ConfigError(where + ": " + path + " is empty");
  return secret;
}

}  // namespace

OAuth2Config parse_oauth2_config(std::string_view clients_json, std::string token_dir) {
  OAuth2Config config;
  config.token_dir = std::move(token_dir);
  while (config.token_dir.size() > 1 && config.token_dir.back() == '/') config.token_dir.pop_back();
  if (clients_json.empty()) return config;
  nlohmann::json clients = nlohmann::json::parse(clients_json, nullptr, /*allow_exceptions=*/false);
  if (!clients.is_object()) throw ConfigError("config: field 'oauth2_clients' must be an object");
  for (const auto& [name, fields] : clients.items()) {
    const std::string where = "config: oauth2_clients." + name;
    if (!valid_client_name(name))
      throw ConfigError(where + ": a client name is letters, digits, '.', '_' and '-' (not first '.')");
    if (!fields.is_object()) throw ConfigError(where + ": must be an object");
    OAuth2ClientConfig client;
    client.name = name;
    std::string secret_file, secret_env, key_file, key_id, grant = "refresh_token";
    for (const auto& [key, value] : fields.items()) {
      if (!value.is_string()) throw ConfigError(where + "." + key + ": must be a string");
      const std::string text = value.get<std::string>();
      if (key == "token_endpoint") {
        client.token_endpoint = checked_url(where + ".token_endpoint", text);
      } else if (key == "device_authorization_endpoint") {
        client.device_authorization_endpoint = checked_url(where + ".device_authorization_endpoint", text);
      } else if (key == "client_id") {
        client.client_id = text;
      } else if (key == "client_secret_file") {
        secret_file = text;
      } else if (key == "client_secret_env") {
        secret_env = text;
      } else if (key == "private_key_file") {
        key_file = text;
      } else if (key == "key_id") {
        key_id = text;
      } else if (key == "scope") {
        client.scope = text;
      } else if (key == "grant") {
        grant = text;
      } else {
        throw ConfigError(where + ": unknown field '" + key + "'");
      }
    }
    if (client.token_endpoint.empty()) throw ConfigError(where + ": token_endpoint is required");
    if (client.client_id.empty()) throw ConfigError(where + ": client_id is required");
    if (grant == "refresh_token") {
      client.grant = Grant::RefreshToken;
    } else if (grant == "client_credentials") {
      client.grant = Grant::ClientCredentials;
    } else {
      throw ConfigError(where + ".grant: expected refresh_token or client_credentials");
    }
    if (static_cast<int>(!secret_file.empty()) + static_cast<int>(!secret_env.empty()) +
            static_cast<int>(!key_file.empty()) >
        1) {
      throw ConfigError(where + ": give one of client_secret_file, client_secret_env and private_key_file");
    }
    if (!key_id.empty() && key_file.empty()) throw ConfigError(where + ": key_id goes with private_key_file");
    if (!secret_file.empty()) {
      client.client_secret = SecretString(read_secret_file(where + ".client_secret_file", secret_file));
    } else if (!secret_env.empty()) {
      const char* value = std::getenv(secret_env.c_str());
      if (value == nullptr || *value == '\0')
        throw ConfigError(where + ".client_secret_env: environment variable " + secret_env + " is not set");
      client.client_secret = SecretString(value);
    } else if (!key_file.empty()) {
      auto signer = ClientAssertionSigner::load_file(key_file, key_id);
      if (!signer) throw ConfigError(where + ".private_key_file: " + signer.error().detail);
      client.signer = std::move(signer).value();
    }
    if (client.grant == Grant::ClientCredentials && client.client_secret.empty() && !client.signer)
      throw ConfigError(where + ": client_credentials needs a client secret or a private key");
    if (client.grant == Grant::RefreshToken && config.token_dir.empty())
      throw ConfigError(where + ": refresh_token clients need token_dir (--token-dir)");
    config.clients.emplace(name, std::move(client));
  }
  return config;
}

}  // namespace popgate::oauth2
