// popgate's own OAuth2 token manager end to end: a device logs in with its local password, popgate
// trades the identity's refresh token for an access token at tools/token_server.py (a scripted
// token endpoint: no real identity provider is reachable offline) and logs in to a real Dovecot
// with AUTHENTICATE XOAUTH2, where the oauth2 passdb validates the JWT. A revoked refresh token
// (invalid_grant) gives the device -ERR [SYS/TEMP] and popgate's log one line without the token.
// With two replicas on one real redis-server and the token server rotating refresh tokens (and
// revoking the grant when a rotated one comes back, as Okta and Auth0 do): one refresh for 50
// concurrent logins, rotations one replica made are what the other refreshes with, and no refresh
// runs while the store is unreachable.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/child_process.h"
#include "tests/integration/support/corpus.h"
#include "tests/integration/support/dovecot_oauth_server.h"
#include "tests/integration/support/pop3_client.h"
#include "tests/integration/support/popgate_process.h"
#include "tests/integration/support/redis_server.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kUser = "alice";
constexpr std::string_view kDevice = "scanner1";
constexpr std::string_view kDevicePassword = "device password";
constexpr std::string_view kClient = "alice-oauth";
// The refresh token the token endpoint honours; any other is "revoked".
constexpr std::string_view kRefreshToken = "refresh-alice-7c1f";
constexpr std::string_view kRevokedRefreshToken = "refresh-alice-revoked-93d2";

std::string tail(const std::string& text, size_t max = 4000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

// Through the binary under test: `popgate hash-password --password-stdin` (bcrypt: fast enough).
std::string hash_password(std::string_view password) {
  const std::string command = "printf '%s\\n' '" + std::string(password) + "' | " + POPGATE_BINARY +
                              " hash-password --password-stdin --method bcrypt";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  char line[512] = {};
  std::string hash = std::fgets(line, sizeof line, pipe) ? line : "";
  const int status = ::pclose(pipe);
  if (status != 0 || hash.empty()) throw std::runtime_error("hash-password failed: " + hash);
  hash.pop_back();  // the newline
  return hash;
}

size_t count_lines_with(const std::string& text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

class OAuthTokenRefresh : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<DovecotOAuthServer>();
    server_->dovecot().add_user(kUser, "alice-password");
    corpus_ = make_small_corpus(2);
    server_->dovecot().deliver_all(kUser, corpus_);
    server_->dovecot().start();

    std::vector<std::string> argv = {
        find_program("python3"),
        std::string(POPGATE_SOURCE_DIR) + "/tests/integration/tools/token_server.py",
        "popgate-test",
        "--refresh-token",
        std::string(kRefreshToken),
        "--jwt-key-file",
        server_->hs256_key_file().string(),
        "--jwt-subject",
        std::string(kUser)};
    argv.insert(argv.end(), token_server_extra_.begin(), token_server_extra_.end());
    token_server_ = std::make_unique<ChildProcess>(
        SpawnOptions{.argv = std::move(argv), .stdout_path = dir_ / "token_server.out"});
    // Poll for the port line (the server writes it once it listens).
    for (int i = 0; i < 1000 && token_server_output().find('\n') == std::string::npos; ++i) {
      ASSERT_TRUE(token_server_->running());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const int port = std::stoi(token_server_output());

    fs::create_directory(dir_ / "tokens");
    const nlohmann::json config = {
        {"token_dir", (dir_ / "tokens").string()},
        {"accounts_file", (dir_ / "accounts.json").string()},
        {"oauth2_clients",
         {{std::string(kClient),
           {{"token_endpoint", "http://127.0.0.1:" + std::to_string(port) + "/token"},
            {"device_authorization_endpoint", "http://127.0.0.1:" + std::to_string(port) + "/devicecode"},
            {"client_id", "popgate-test"},
            {"scope", "mail"},
            {"grant", "refresh_token"}}}}}};
    write_file(dir_ / "config.json", config.dump(2));
    const nlohmann::json accounts = {
        {"identities", {{"alice-box", {{"user", std::string(kUser)}, {"oauth2", std::string(kClient)}}}}},
        {"accounts",
         {{std::string(kDevice),
           {{"password_hash", hash_password(kDevicePassword)}, {"identity", "alice-box"}}}}}};
    write_file(dir_ / "accounts.json", accounts.dump(2));
  }

  void TearDown() override {
    if (!HasFailure()) return;
    if (popgate_) std::cerr << "---- popgate stderr (tail) ----\n" << tail(popgate_->log_text()) << "\n";
    std::cerr << "---- token server ----\n" << token_server_output() << "\n";
    if (server_) std::cerr << "---- dovecot log (tail) ----\n" << tail(server_->dovecot().log_text()) << "\n";
  }

  std::string token_server_output() const {
    return fs::exists(dir_ / "token_server.out") ? read_file(dir_ / "token_server.out") : "";
  }

  // What `popgate oauth login` leaves behind: TOKEN_DIR/CLIENT.json, mode 0600.
  void store_refresh_token(std::string_view refresh_token) {
    const fs::path file = dir_ / "tokens" / (std::string(kClient) + ".json");
    write_file(file, nlohmann::json{{"refresh_token", std::string(refresh_token)}}.dump());
    ::chmod(file.c_str(), 0600);
  }

  void start_popgate() {
    popgate_ = std::make_unique<PopgateProcess>(
        server_->dovecot().imap_port(),
        std::vector<std::string>{"--config", (dir_ / "config.json").string(), "--auth-failure-delay", "0"});
  }

  std::vector<std::string> token_server_extra_;  // more arguments for tools/token_server.py
  TempDir dir_{"oauth-refresh"};
  std::unique_ptr<DovecotOAuthServer> server_;
  std::unique_ptr<ChildProcess> token_server_;
  std::unique_ptr<PopgateProcess> popgate_;
  std::vector<CorpusMessage> corpus_;
};

TEST_F(OAuthTokenRefresh, DeviceReadsTheMailboxWithARefreshedToken) {
  store_refresh_token(kRefreshToken);
  start_popgate();
  Pop3Client client(popgate_->port());
  ASSERT_EQ(client.login(kDevice, kDevicePassword).substr(0, 3), "+OK");
  for (size_t n = 1; n <= corpus_.size(); ++n) {
    SCOPED_TRACE("RETR " + std::to_string(n));
    const Pop3Response retr = client.multiline("RETR " + std::to_string(n));
    ASSERT_TRUE(retr.ok()) << retr.status;
    EXPECT_TRUE(same_bytes(corpus_[n - 1].bytes, dot_unstuff(retr.body)));
  }
  EXPECT_EQ(client.command("QUIT").substr(0, 3), "+OK");
  // popgate refreshed once, and presented the token as XOAUTH2 (Dovecot validated it: its
  // oauth2 passdb is the only one that takes that mechanism).
  EXPECT_EQ(count_lines_with(token_server_output(), "refresh ok"), 1u) << token_server_output();
  const std::string log = popgate_->log_text();
  EXPECT_EQ(log.find(kRefreshToken), std::string::npos);
}

TEST_F(OAuthTokenRefresh, RevokedRefreshTokenIsSysTempWithOneClearLogLine) {
  store_refresh_token(kRevokedRefreshToken);
  start_popgate();
  Pop3Client client(popgate_->port());
  EXPECT_EQ(client.login(kDevice, kDevicePassword).substr(0, 15), "-ERR [SYS/TEMP]");
  EXPECT_EQ(count_lines_with(token_server_output(), "refresh invalid_grant"), 1u) << token_server_output();
  const std::string log = popgate_->log_text();
  EXPECT_EQ(count_lines_with(log, "oauth_refresh_token_revoked"), 1u) << tail(log);
  const size_t line_start = log.rfind('\n', log.find("oauth_refresh_token_revoked")) + 1;
  const std::string line = log.substr(line_start, log.find('\n', line_start) - line_start);
  EXPECT_NE(line.find(kClient), std::string::npos) << line;
  EXPECT_NE(line.find("popgate oauth login"), std::string::npos) << line;
  EXPECT_EQ(log.find(kRevokedRefreshToken), std::string::npos) << tail(log);
}

// ---------------------------------------------------------------- replicas sharing tokens

class SharedOAuthTokens : public OAuthTokenRefresh {
 protected:
  // An identity provider that rotates refresh tokens and revokes the family on reuse, and answers
  // slowly enough that concurrent refreshes would overlap.
  explicit SharedOAuthTokens(std::vector<std::string> token_server = {"--rotate", "--refresh-delay", "0.3"}) {
    token_server_extra_ = std::move(token_server);
  }
  void SetUp() override {
    OAuthTokenRefresh::SetUp();
    redis_.start();
    write_file(dir_ / "token-key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
    store_refresh_token(kRefreshToken);  // imported by the first replica to refresh
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto& replica : replicas_) {
        if (replica) std::cerr << "---- replica ----\n" << tail(replica->log_text()) << "\n";
      }
    }
    OAuthTokenRefresh::TearDown();
  }
  std::vector<std::string> replica_args() const {
    // Many sessions of one mailbox at once: no maildrop lock, no cap.
    return {"--config",
            (dir_ / "config.json").string(),
            "--auth-failure-delay",
            "0",
            "--state-store",
            "redis://127.0.0.1:" + std::to_string(redis_.port()),
            "--state-store-key-file",
            (dir_ / "token-key").string(),
            "--no-maildrop-lock",
            "--max-upstream-sessions-per-identity",
            "0",
            "--upstream-reuse-time",
            "0"};
  }
  void start_replicas() {
    for (auto& replica : replicas_) {
      replica = std::make_unique<PopgateProcess>(server_->dovecot().imap_port(), replica_args());
    }
  }
  std::string login(PopgateProcess& replica) {
    Pop3Client client(replica.port());
    std::string reply = client.login(kDevice, kDevicePassword);
    if (reply.starts_with("+OK")) client.command("QUIT");
    return reply;
  }
  size_t lines(std::string_view needle) const { return count_lines_with(token_server_output(), needle); }

  RedisServer redis_;
  std::array<std::unique_ptr<PopgateProcess>, 2> replicas_;
};

TEST_F(SharedOAuthTokens, TwentyFiveConcurrentLoginsOnEachOfTwoReplicasShareOneRefresh) {
  start_replicas();
  std::vector<std::string> replies(50);
  std::vector<std::thread> devices;
  for (size_t i = 0; i < replies.size(); ++i) {
    devices.emplace_back([&, i] { replies[i] = login(*replicas_[i % 2]); });
  }
  for (auto& device : devices) device.join();
  for (size_t i = 0; i < replies.size(); ++i)
    EXPECT_EQ(replies[i].substr(0, 3), "+OK") << i << ": " << replies[i];
  EXPECT_EQ(lines("refresh ok"), 1u) << token_server_output();
  EXPECT_EQ(lines("refresh reuse"), 0u);
  EXPECT_EQ(lines("refresh invalid_grant"), 0u);
  // In the store, sealed: neither the imported token nor its rotation in the clear.
  const std::string stored = redis_.cli({"GET", "popgate:oauth:" + std::string(kClient)});
  EXPECT_FALSE(stored.empty());
  EXPECT_EQ(stored.find(kRefreshToken), std::string::npos) << stored;
  EXPECT_EQ(
      count_lines_with(replicas_[0]->log_text() + replicas_[1]->log_text(), "oauth_refresh_token_imported"),
      1u);
}

class RotatingSharedOAuthTokens : public SharedOAuthTokens {
 protected:
  // Access tokens good for 2 s (popgate uses a short-lived one for half its life): every round
  // below refreshes.
  RotatingSharedOAuthTokens() : SharedOAuthTokens({"--rotate", "--access-lifetime", "2"}) {}
};

TEST_F(RotatingSharedOAuthTokens, EachReplicaRefreshesWithTheTokenTheOtherRotatedLast) {
  start_replicas();
  for (int round = 0; round < 4; ++round) {
    EXPECT_EQ(login(*replicas_[round % 2]).substr(0, 3), "+OK") << round << "\n" << token_server_output();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  }
  EXPECT_EQ(lines("refresh ok"), 4u) << token_server_output();
  EXPECT_EQ(lines("refresh reuse"), 0u) << "a rotated refresh token was presented again";
}

TEST_F(SharedOAuthTokens, WithTheStoreGoneNoReplicaRefreshesOnItsOwn) {
  start_replicas();
  EXPECT_EQ(login(*replicas_[0]).substr(0, 3), "+OK");
  redis_.kill();
  EXPECT_EQ(login(*replicas_[0]).substr(0, 3), "+OK") << "the token it holds is still good";
  // Replica B never had one, and does not ask the identity provider behind the store's back.
  EXPECT_EQ(login(*replicas_[1]).substr(0, 15), "-ERR [SYS/TEMP]");
  EXPECT_EQ(lines("refresh ok"), 1u);
  EXPECT_NE(replicas_[1]->log_text().find("the refresh waits for the state store"), std::string::npos)
      << tail(replicas_[1]->log_text());
}

class DeviceLoginIntoTheStore : public SharedOAuthTokens {
 protected:
  // The device grant issues the refresh token the refresh grant honours.
  DeviceLoginIntoTheStore()
      : SharedOAuthTokens({"--rotate", "--device-refresh-token", std::string(kRefreshToken)}) {}
};

TEST_F(DeviceLoginIntoTheStore, PopgateOauthLoginStoresTheGrantForEveryReplica) {
  fs::remove(dir_ / "tokens" / (std::string(kClient) + ".json"));  // nothing to import
  // The server's settings, as the ConfigMap would carry them: the command reads the same file.
  nlohmann::json config = nlohmann::json::parse(read_file(dir_ / "config.json"));
  config["state_store"] = "redis://127.0.0.1:" + std::to_string(redis_.port());
  config["state_store_key_file"] = (dir_ / "token-key").string();
  write_file(dir_ / "config.json", config.dump(2));
  RunResult login_command =
      run_program(SpawnOptions{.argv = {POPGATE_BINARY, "oauth", "login", std::string(kClient), "--config",
                                        (dir_ / "config.json").string()}},
                  std::chrono::seconds(60));
  ASSERT_EQ(login_command.exit_code, 0) << login_command.out << login_command.err;
  EXPECT_NE(login_command.out.find("stored in the state store"), std::string::npos) << login_command.out;
  EXPECT_FALSE(fs::exists(dir_ / "tokens" / (std::string(kClient) + ".json"))) << "not in token_dir";
  const std::string stored = redis_.cli({"GET", "popgate:oauth:" + std::string(kClient)});
  EXPECT_FALSE(stored.empty());
  EXPECT_EQ(stored.find(kRefreshToken), std::string::npos) << "sealed";

  start_replicas();
  EXPECT_EQ(login(*replicas_[1]).substr(0, 3), "+OK");
  EXPECT_EQ(lines("refresh ok"), 1u) << token_server_output();
  EXPECT_EQ(count_lines_with(replicas_[1]->log_text(), "oauth_refresh_token_imported"), 0u);
}

TEST_F(SharedOAuthTokens, AStoreWithoutAKeyForTheTokensRefusesToStart) {
  RunResult result =
      run_program(SpawnOptions{.argv = {POPGATE_BINARY, "--check-config", "--upstream", "imap://127.0.0.1:1",
                                        "--config", (dir_ / "config.json").string(), "--state-store",
                                        "redis://127.0.0.1:" + std::to_string(redis_.port())}},
                  std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("state-store-key-file: required"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace popgate::integration
