// OAuth2TokenManager and DeviceLogin against FakeTokenServer (a scripted token endpoint on
// 127.0.0.1: no real identity provider can be reached offline). Cache until the margin, single
// flight, rotation persisted, revoked refresh token, client_credentials, private_key_jwt and the
// device grant end to end.
#include "gateway/oauth2/token_manager.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "gateway/admin/metrics.h"
#include "gateway/oauth2/device_login.h"
#include "gateway/oauth2/oauth2_credential_source.h"
#include "tests/unit/gateway/captured_stderr.h"
#include "tests/unit/gateway/oauth2/fake_token_server.h"
#include "tests/unit/gateway/oauth2/jwt_verify.h"

namespace popgate::oauth2 {
namespace {

using io::testing::run_until;
using popgate::testing::FakeTokenServer;

struct Fetched {
  int calls = 0;
  std::optional<Result<SecretString>> result;
  CredentialSource::Done callback() {
    return [this](Result<SecretString> r) {
      ++calls;
      result = std::move(r);
    };
  }
  bool done() const { return calls > 0; }
  std::string token() const {
    return result && result->ok() ? std::string(result->value().reveal()) : "<error>";
  }
};

class OAuth2TokenManagerTest : public ::testing::Test {
 protected:
  OAuth2TokenManagerTest() : server(loop) {
    char path[] = "/tmp/popgate-tokens-XXXXXX";
    token_dir = ::mkdtemp(path);
  }
  ~OAuth2TokenManagerTest() override {
    manager.reset();
    std::filesystem::remove_all(token_dir);
  }

  OAuth2ClientConfig client(Grant grant = Grant::RefreshToken) {
    OAuth2ClientConfig config;
    config.name = "m365";
    config.token_endpoint = server.url();
    config.client_id = "client-id";
    config.client_secret = SecretString("client-secret");
    config.scope = "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access";
    config.grant = grant;
    return config;
  }

  void start(OAuth2ClientConfig config) {
    OAuth2Config all;
    all.token_dir = token_dir;
    all.clients.emplace(config.name, std::move(config));
    TokenManagerOptions options;
    options.expiry_margin_ms = 10'000;
    options.now_ms = [this] { return clock_ms; };
    manager = std::make_unique<OAuth2TokenManager>(loop, std::move(all), nullptr, &metrics, options);
    ASSERT_TRUE(manager->load_refresh_tokens().ok());
  }

  std::string fetch_token(const char* client = "m365") {
    Fetched fetched;
    PendingFetchPtr handle = manager->fetch(client, fetched.callback());
    EXPECT_TRUE(run_until(loop, [&] { return fetched.done(); }));
    return fetched.token();
  }

  io::Loop loop;
  FakeTokenServer server;
  Metrics metrics;
  std::string token_dir;
  uint64_t clock_ms = 1'000'000;
  std::unique_ptr<OAuth2TokenManager> manager;
};

TEST_F(OAuth2TokenManagerTest, CachesTheAccessTokenUntilTheMarginThenRefreshes) {
  ASSERT_TRUE(write_token_file(token_dir, "m365", SecretString("rt-1")).ok());
  server.respond = [&](const FakeTokenServer::Request&) {
    return FakeTokenServer::Answer{200, R"({"access_token":"access-)" +
                                            std::to_string(server.requests.size()) +
                                            R"(","token_type":"Bearer","expires_in":100})"};
  };
  start(client());
  EXPECT_EQ(fetch_token(), "access-1");
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0].form["grant_type"], "refresh_token");
  EXPECT_EQ(server.requests[0].form["refresh_token"], "rt-1");
  EXPECT_EQ(server.requests[0].form["client_id"], "client-id");
  EXPECT_EQ(server.requests[0].form["client_secret"], "client-secret");
  EXPECT_EQ(server.requests[0].form["scope"],
            "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access");

  clock_ms += 89'000;  // 100 s lifetime, 10 s margin: still fresh
  EXPECT_EQ(fetch_token(), "access-1");
  EXPECT_EQ(server.requests.size(), 1u);
  clock_ms += 2'000;  // inside the margin: refreshed before it expires
  EXPECT_EQ(fetch_token(), "access-2");
  EXPECT_EQ(server.requests.size(), 2u);
  EXPECT_NE(metrics.serialize().find("popgate_oauth_token_refreshes_total{result=\"ok\"} 2"),
            std::string::npos);
}

TEST_F(OAuth2TokenManagerTest, FiftyConcurrentFetchesShareOneRefresh) {
  ASSERT_TRUE(write_token_file(token_dir, "m365", SecretString("rt-1")).ok());
  start(client());
  std::vector<Fetched> fetched(50);
  std::vector<PendingFetchPtr> handles;
  for (auto& f : fetched) handles.push_back(manager->fetch("m365", f.callback()));
  Fetched cancelled;
  PendingFetchPtr cancelled_handle = manager->fetch("m365", cancelled.callback());
  cancelled_handle.reset();  // its owner went away: never called
  ASSERT_TRUE(run_until(loop, [&] {
    return std::all_of(fetched.begin(), fetched.end(), [](const Fetched& f) { return f.done(); });
  }));
  EXPECT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(manager->refreshes_started(), 1u);
  for (const auto& f : fetched) {
    EXPECT_EQ(f.calls, 1);
    EXPECT_EQ(f.token(), "access-1");
  }
  io::testing::run_for(loop, 20);
  EXPECT_EQ(cancelled.calls, 0);
}

TEST_F(OAuth2TokenManagerTest, RotatedRefreshTokenIsPersistedAndUsedAfterARestart) {
  ASSERT_TRUE(write_token_file(token_dir, "m365", SecretString("rt-1")).ok());
  server.respond = [&](const FakeTokenServer::Request& request) {
    std::string next = request.form.at("refresh_token") == "rt-1" ? "rt-2" : "rt-3";
    return FakeTokenServer::Answer{
        200, R"({"access_token":"at","expires_in":3600,"refresh_token":")" + next + "\"}"};
  };
  start(client());
  EXPECT_EQ(fetch_token(), "at");
  ASSERT_TRUE(run_until(loop, [&] { return manager->store_idle(); }));
  auto on_disk = read_token_file(token_dir, "m365");
  ASSERT_TRUE(on_disk.ok() && on_disk.value());
  EXPECT_EQ(on_disk.value()->reveal(), "rt-2");

  manager.reset();  // a restart: the new manager reads the rotated token
  start(client());
  EXPECT_EQ(fetch_token(), "at");
  ASSERT_EQ(server.requests.size(), 2u);
  EXPECT_EQ(server.requests[1].form["refresh_token"], "rt-2");
  ASSERT_TRUE(run_until(loop, [&] { return manager->store_idle(); }));
  on_disk = read_token_file(token_dir, "m365");
  EXPECT_EQ(on_disk.value()->reveal(), "rt-3");
}

TEST_F(OAuth2TokenManagerTest, RevokedRefreshTokenIsTemporaryWithOneClearLogLineAndAMetric) {
  ASSERT_TRUE(write_token_file(token_dir, "m365", SecretString("secret-refresh-token")).ok());
  server.respond = [](const FakeTokenServer::Request& request) {
    if (request.form.at("refresh_token") == "new-refresh-token")
      return FakeTokenServer::Answer{200, R"({"access_token":"after-login","expires_in":3600})"};
    return FakeTokenServer::Answer{400,
                                   R"({"error":"invalid_grant","error_description":"AADSTS70008: expired"})"};
  };
  start(client());
  popgate::testing::CapturedStderr captured;
  std::vector<Fetched> fetched(3);
  std::vector<PendingFetchPtr> handles;
  for (auto& f : fetched) handles.push_back(manager->fetch("m365", f.callback()));
  ASSERT_TRUE(run_until(loop, [&] {
    return std::all_of(fetched.begin(), fetched.end(), [](const Fetched& f) { return f.done(); });
  }));
  for (const auto& f : fetched) {
    ASSERT_FALSE(f.result->ok());
    EXPECT_EQ(f.result->error().kind, ErrorKind::Temporary);
  }
  // Backing off: no new request to the endpoint.
  Fetched during_backoff;
  auto handle = manager->fetch("m365", during_backoff.callback());
  ASSERT_TRUE(run_until(loop, [&] { return during_backoff.done(); }));
  EXPECT_FALSE(during_backoff.result->ok());
  EXPECT_EQ(server.requests.size(), 1u);

  std::string log = captured.text();
  EXPECT_NE(log.find("refresh token revoked or expired for m365; run `popgate oauth login m365`"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("secret-refresh-token"), std::string::npos) << log;
  size_t lines = 0;
  for (size_t at = log.find("oauth_refresh_token_revoked"); at != std::string::npos;
       at = log.find("oauth_refresh_token_revoked", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;  // one line for three sessions
  EXPECT_NE(metrics.serialize().find("popgate_oauth_token_refreshes_total{result=\"revoked\"} 1"),
            std::string::npos);

  // `popgate oauth login` stores a new token while popgate runs: after the backoff it is used.
  ASSERT_TRUE(write_token_file(token_dir, "m365", SecretString("new-refresh-token")).ok());
  clock_ms += 60'000;
  EXPECT_EQ(fetch_token(), "after-login");
}

TEST_F(OAuth2TokenManagerTest, ClientCredentialsGrant) {
  start(client(Grant::ClientCredentials));
  EXPECT_EQ(fetch_token(), "access-1");
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0].form["grant_type"], "client_credentials");
  EXPECT_EQ(server.requests[0].form["client_secret"], "client-secret");
  EXPECT_EQ(server.requests[0].form.count("refresh_token"), 0u);
}

TEST_F(OAuth2TokenManagerTest, PrivateKeyJwtAssertionIsAcceptedByTheEndpoint) {
  bssl::UniquePtr<EVP_PKEY> key = popgate::testing::generate_key(/*es256=*/true);
  auto signer = ClientAssertionSigner::from_pem(popgate::testing::private_key_pem(key.get()), "kid");
  ASSERT_TRUE(signer.ok());
  // The fake checks what an identity provider checks (RFC 7523 §3): signature, iss, sub, aud.
  server.respond = [&](const FakeTokenServer::Request& request) {
    auto claims = popgate::testing::verify_jwt(
        request.form.count("client_assertion") ? request.form.at("client_assertion") : "", key.get());
    if (request.form.count("client_secret") || !claims || (*claims)["iss"] != "client-id" ||
        (*claims)["sub"] != "client-id" || (*claims)["aud"] != server.url() ||
        request.form.at("client_assertion_type") !=
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
      return FakeTokenServer::Answer{401, R"({"error":"invalid_client"})"};
    }
    return FakeTokenServer::Answer{200, R"({"access_token":"jwt-ok","expires_in":3600})"};
  };
  OAuth2ClientConfig config = client(Grant::ClientCredentials);
  config.client_secret = SecretString();
  config.signer = signer.value();
  start(std::move(config));
  EXPECT_EQ(fetch_token(), "jwt-ok");

  // The same endpoint refuses a key it does not know: the check can fail.
  manager.reset();
  clock_ms += 1;
  bssl::UniquePtr<EVP_PKEY> other = popgate::testing::generate_key(true);
  OAuth2ClientConfig wrong = client(Grant::ClientCredentials);
  wrong.client_secret = SecretString();
  wrong.signer = ClientAssertionSigner::from_pem(popgate::testing::private_key_pem(other.get()), "").value();
  start(std::move(wrong));
  EXPECT_EQ(fetch_token(), "<error>");
}

TEST_F(OAuth2TokenManagerTest, CredentialSourceFactory) {
  start(client(Grant::ClientCredentials));
  auto source = make_oauth2_credential_source(*manager, "m365");
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(source.value()->kind(), CredentialKind::BearerToken);
  Fetched fetched;
  auto handle = source.value()->fetch(fetched.callback());
  ASSERT_TRUE(run_until(loop, [&] { return fetched.done(); }));
  EXPECT_EQ(fetched.token(), "access-1");
  auto unknown = make_oauth2_credential_source(*manager, "google");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::Permanent);
}

TEST_F(OAuth2TokenManagerTest, NoStoredRefreshTokenSaysToLogIn) {
  start(client());
  Fetched fetched;
  auto handle = manager->fetch("m365", fetched.callback());
  ASSERT_TRUE(run_until(loop, [&] { return fetched.done(); }));
  ASSERT_FALSE(fetched.result->ok());
  EXPECT_EQ(fetched.result->error().kind, ErrorKind::Temporary);
  EXPECT_NE(fetched.result->error().detail.find("popgate oauth login m365"), std::string::npos);
  EXPECT_TRUE(server.requests.empty());
}

TEST_F(OAuth2TokenManagerTest, DeviceGrantPendingSlowDownThenStored) {
  OAuth2ClientConfig config = client();
  config.device_authorization_endpoint = server.url("/devicecode");
  int polls = 0;
  server.respond = [&](const FakeTokenServer::Request& request) {
    if (request.target == "/devicecode") {
      EXPECT_EQ(request.form.at("scope"), config.scope);
      return FakeTokenServer::Answer{
          200,
          R"({"device_code":"dev-1","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device",)"
          R"("verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":900,"interval":1})"};
    }
    EXPECT_EQ(request.form.at("grant_type"), "urn:ietf:params:oauth:grant-type:device_code");
    EXPECT_EQ(request.form.at("device_code"), "dev-1");
    switch (++polls) {
      case 1:
        return FakeTokenServer::Answer{400, R"({"error":"authorization_pending"})"};
      case 2:
        return FakeTokenServer::Answer{400, R"({"error":"slow_down"})"};
      default:
        return FakeTokenServer::Answer{
            200, R"({"access_token":"at","expires_in":3600,"refresh_token":"device-rt"})"};
    }
  };
  std::ostringstream out;
  DeviceLoginOptions options;
  options.second_ms = 5;  // RFC 8628's seconds, shrunk
  DeviceLogin login(loop, config, token_dir, nullptr, out, options);
  std::optional<Status> finished;
  login.start([&](Status status) { finished = std::move(status); });
  ASSERT_TRUE(run_until(loop, [&] { return finished.has_value(); }));
  ASSERT_TRUE(finished->ok()) << finished->error().detail;
  EXPECT_EQ(polls, 3);
  EXPECT_EQ(login.interval_s(), 6u);  // 1 + 5 after slow_down
  EXPECT_NE(out.str().find("https://example.com/device and enter the code WDJB-MJHT"), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("user_code=WDJB-MJHT"), std::string::npos);
  auto stored = read_token_file(token_dir, "m365");
  ASSERT_TRUE(stored.ok() && stored.value());
  EXPECT_EQ(stored.value()->reveal(), "device-rt");
}

TEST_F(OAuth2TokenManagerTest, DeviceGrantDeniedFails) {
  OAuth2ClientConfig config = client();
  config.device_authorization_endpoint = server.url("/devicecode");
  server.respond = [&](const FakeTokenServer::Request& request) {
    if (request.target == "/devicecode")
      return FakeTokenServer::Answer{
          200, R"({"device_code":"d","user_code":"U","verification_uri":"https://x/","interval":0})"};
    return FakeTokenServer::Answer{400, R"({"error":"access_denied"})"};
  };
  std::ostringstream out;
  DeviceLogin login(loop, config, token_dir, nullptr, out);
  std::optional<Status> finished;
  login.start([&](Status status) { finished = std::move(status); });
  ASSERT_TRUE(run_until(loop, [&] { return finished.has_value(); }));
  ASSERT_FALSE(finished->ok());
  EXPECT_EQ(finished->error().kind, ErrorKind::Permanent);
  auto stored = read_token_file(token_dir, "m365");
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored.value());
}

}  // namespace
}  // namespace popgate::oauth2
