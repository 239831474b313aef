// "oauth2_clients" and token_dir: kept raw by the config file loader, parsed and checked by
// parse_oauth2_config (secrets and keys read at start-up).
#include "gateway/oauth2/oauth2_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gateway/config/config.h"
#include "tests/unit/gateway/oauth2/jwt_verify.h"

namespace popgate::oauth2 {
namespace {

std::string temp_file(const std::string& contents) {
  char path[] = "/tmp/popgate-oauth2-config-XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  std::ofstream(path) << contents;
  return path;
}

nlohmann::json m365() {
  return {{"token_endpoint", "https://login.microsoftonline.com/t/oauth2/v2.0/token"},
          {"device_authorization_endpoint", "https://login.microsoftonline.com/t/oauth2/v2.0/devicecode"},
          {"client_id", "cid"},
          {"scope", "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access"}};
}

std::string error_of(const nlohmann::json& clients, const std::string& token_dir = "/var/lib/popgate") {
  try {
    parse_oauth2_config(clients.dump(), token_dir);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(OAuth2Config, ConfigFileKeepsTheClientsAndTokenDir) {
  nlohmann::json file = {{"upstream", "imaps://outlook.office365.com"},
                         {"token_dir", "/var/lib/popgate/tokens"},
                         {"oauth2_clients", {{"m365", m365()}}}};
  std::string path = temp_file(file.dump());
  Config config;
  std::string out;
  const char* argv[] = {"popgate", "--config", path.c_str()};
  parse_command_line(3, argv, config, out);
  std::remove(path.c_str());
  EXPECT_EQ(config.token_dir, "/var/lib/popgate/tokens");
  OAuth2Config parsed = parse_oauth2_config(config.oauth2_clients_json, config.token_dir);
  ASSERT_EQ(parsed.clients.count("m365"), 1u);
  EXPECT_EQ(parsed.clients.at("m365").client_id, "cid");
  EXPECT_EQ(parsed.clients.at("m365").grant, Grant::RefreshToken);
  EXPECT_EQ(parsed.token_dir, "/var/lib/popgate/tokens");
}

TEST(OAuth2Config, SecretsFromFileAndEnvironment) {
  std::string secret_path = temp_file("s3cret\n");
  nlohmann::json from_file = m365();
  from_file["client_secret_file"] = secret_path;
  from_file["grant"] = "client_credentials";
  OAuth2Config parsed = parse_oauth2_config(nlohmann::json{{"app", from_file}}.dump(), "");
  EXPECT_EQ(parsed.clients.at("app").client_secret.reveal(), "s3cret");
  std::remove(secret_path.c_str());

  ::setenv("POPGATE_TEST_OAUTH_SECRET", "from-env", 1);
  nlohmann::json from_env = m365();
  from_env["client_secret_env"] = "POPGATE_TEST_OAUTH_SECRET";
  parsed = parse_oauth2_config(nlohmann::json{{"m365", from_env}}.dump(), "/tokens");
  EXPECT_EQ(parsed.clients.at("m365").client_secret.reveal(), "from-env");
  ::unsetenv("POPGATE_TEST_OAUTH_SECRET");
  EXPECT_NE(error_of({{"m365", from_env}}).find("POPGATE_TEST_OAUTH_SECRET is not set"), std::string::npos);
}

TEST(OAuth2Config, PrivateKeyFile) {
  bssl::UniquePtr<EVP_PKEY> key = popgate::testing::generate_key(true);
  std::string key_path = temp_file(popgate::testing::private_key_pem(key.get()));
  nlohmann::json client = m365();
  client["private_key_file"] = key_path;
  client["key_id"] = "x5t:abc";
  OAuth2Config parsed = parse_oauth2_config(nlohmann::json{{"m365", client}}.dump(), "/tokens");
  ASSERT_TRUE(parsed.clients.at("m365").signer);
  EXPECT_STREQ(parsed.clients.at("m365").signer->algorithm(), "ES256");
  std::remove(key_path.c_str());
}

TEST(OAuth2Config, ErrorsNameTheClientAndField) {
  nlohmann::json plain_http = m365();
  plain_http["token_endpoint"] = "http://idp.example/token";
  EXPECT_NE(error_of({{"m365", plain_http}}).find("oauth2_clients.m365.token_endpoint: must be https://"),
            std::string::npos);
  for (const char* url : {"http://127.0.0.1:8080/token", "http://LocalHost:8080/token", "http://[::1]/token",
                          "http://127.2.3.4/token"}) {
    nlohmann::json loopback = m365();
    loopback["token_endpoint"] = url;
    EXPECT_EQ(error_of({{"m365", loopback}}), "") << url;
  }
  // A name that merely starts like a loopback address may lead anywhere.
  nlohmann::json lookalike = m365();
  lookalike["device_authorization_endpoint"] = "http://127.attacker.example/devicecode";
  EXPECT_NE(error_of({{"m365", lookalike}})
                .find("oauth2_clients.m365.device_authorization_endpoint: must be https://"),
            std::string::npos);
  nlohmann::json typo = m365();
  typo["scopes"] = "x";
  EXPECT_NE(error_of({{"m365", typo}}).find("unknown field 'scopes'"), std::string::npos);
  EXPECT_NE(error_of({{"../x", m365()}}).find("a client name is"), std::string::npos);
  EXPECT_NE(error_of({{"m365", m365()}}, "").find("need token_dir"), std::string::npos);
  nlohmann::json no_id = m365();
  no_id.erase("client_id");
  EXPECT_NE(error_of({{"m365", no_id}}).find("client_id is required"), std::string::npos);
  nlohmann::json cc = m365();
  cc["grant"] = "client_credentials";
  EXPECT_NE(error_of({{"m365", cc}}).find("needs a client secret or a private key"), std::string::npos);
  nlohmann::json both = m365();
  both["client_secret_env"] = "A";
  both["private_key_file"] = "/k.pem";
  EXPECT_NE(error_of({{"m365", both}}).find("give one of"), std::string::npos);
  cc["grant"] = "password";
  EXPECT_NE(error_of({{"m365", cc}}).find("expected refresh_token or client_credentials"), std::string::npos);
}

}  // namespace
}  // namespace popgate::oauth2
