// `popgate oauth login CLIENT` end to end: the popgate binary against tools/token_server.py, a
// scripted token endpoint (no real identity provider can be reached offline). The device grant
// goes through authorization_pending and slow_down, and the refresh token lands in the token
// directory, mode 0600.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/support/child_process.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class OAuthLoginCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/popgate-oauth-login-XXXXXX";
    dir = ::mkdtemp(path);
    fs::create_directory(dir / "tokens");
    server = std::make_unique<ChildProcess>(
        SpawnOptions{.argv = {find_program("python3"),
                              std::string(POPGATE_SOURCE_DIR) + "/tests/integration/tools/token_server.py",
                              "popgate-test"},
                     .stdout_path = dir / "server.out"});
    // Poll for the port line (no sleeping for readiness: the server writes it once it listens).
    for (int i = 0; i < 1000 && read_file(dir / "server.out").find('\n') == std::string::npos; ++i) {
      ASSERT_TRUE(server->running());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    port = std::stoi(read_file(dir / "server.out"));
    nlohmann::json config = {
        {"upstream", "imaps://outlook.office365.com"},
        {"token_dir", (dir / "tokens").string()},
        {"oauth2_clients",
         {{"m365",
           {{"token_endpoint", "http://127.0.0.1:" + std::to_string(port) + "/token"},
            {"device_authorization_endpoint", "http://127.0.0.1:" + std::to_string(port) + "/devicecode"},
            {"client_id", "popgate-test"},
            {"scope", "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access"}}}}}};
    std::ofstream(dir / "config.json") << config.dump(2);
  }
  void TearDown() override {
    server.reset();
    fs::remove_all(dir);
  }

  fs::path dir;
  std::unique_ptr<ChildProcess> server;
  int port = 0;
};

TEST_F(OAuthLoginCommand, DeviceGrantStoresTheRefreshToken) {
  RunResult run = run_program(
      {.argv = {POPGATE_BINARY, "oauth", "login", "m365", "--config", (dir / "config.json").string()}},
      std::chrono::seconds(60));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("open https://login.example/device and enter the code WDJB-MJHT"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("Refresh token stored in"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("refresh-from-device-grant"), std::string::npos);  // never printed
  const fs::path token_file = dir / "tokens" / "m365.json";
  auto stored = nlohmann::json::parse(read_file(token_file), nullptr, false);
  ASSERT_TRUE(stored.is_object()) << read_file(token_file);
  EXPECT_EQ(stored["refresh_token"], "refresh-from-device-grant");
  struct stat info {};
  ASSERT_EQ(::stat(token_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(OAuthLoginCommand, UnknownClientIsAUsageError) {
  RunResult run = run_program(
      {.argv = {POPGATE_BINARY, "oauth", "login", "google", "--config", (dir / "config.json").string()}},
      std::chrono::seconds(30));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("no OAuth2 client named 'google'"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir / "tokens" / "google.json"));
}

TEST_F(OAuthLoginCommand, RefusedClientFailsWithoutStoringAnything) {
  nlohmann::json config = nlohmann::json::parse(read_file(dir / "config.json"));
  config["oauth2_clients"]["m365"]["client_id"] = "someone-else";  // the fake answers invalid_client
  std::ofstream(dir / "config.json") << config.dump();
  RunResult run = run_program(
      {.argv = {POPGATE_BINARY, "oauth", "login", "m365", "--config", (dir / "config.json").string()}},
      std::chrono::seconds(30));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("invalid_client"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir / "tokens" / "m365.json"));
}

}  // namespace
}  // namespace popgate::integration
