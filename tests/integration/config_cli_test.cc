// popgate --check-config: reads the file, the environment and the command line, loads the
// certificates, says "configuration OK" and exits 0; a bad setting is one line on stderr and 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/temp_dir.h"
#include "tests/unit/gateway/io/test_certificates.h"

namespace popgate::integration {
namespace {

RunResult check_config(std::vector<std::string> args, std::vector<std::string> environment = {}) {
  SpawnOptions options;
  options.argv = {POPGATE_BINARY, "--check-config"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.extra_env = std::move(environment);
  return run_program(std::move(options), std::chrono::seconds(10));
}

void expect_one_error_line(const RunResult& result, std::string_view naming) {
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_TRUE(result.err.starts_with("popgate: ")) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find(naming), std::string::npos) << result.err;
}

TEST(CheckConfig, AGoodConfigurationIsOk) {
  TempDir dir("check-config");
  write_file(dir / "popgate.json", R"({"upstream": "imaps://mail.example.com", "listen": ["127.0.0.1:1110"],
                                       "idle_timeout": 30, "log_format": "text"})");
  const RunResult result = check_config({"--config", (dir / "popgate.json").string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "configuration OK\n");
  EXPECT_EQ(result.err, "");
  // Nothing listens: the port in the file is not even needed free (it is privileged anyway).
  const RunResult cli = check_config({"--upstream", "jmaps://mail.example.com", "--listen", "127.0.0.1:1"},
                                     {"POPGATE_DRAIN_TIMEOUT=5"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out, "configuration OK\n");
}

TEST(CheckConfig, ErrorsInTheFileTheEnvironmentOrTheCommandLineExit2) {
  TempDir dir("check-config");
  write_file(dir / "bad.json", R"({"upstream": "imap://x", "listen": ["127.0.0.1:110", 995]})");
  expect_one_error_line(check_config({"--config", (dir / "bad.json").string()}),
                        "field 'listen[1]' must be a string");
  write_file(dir / "broken.json", "{");
  expect_one_error_line(check_config({"--config", (dir / "broken.json").string()}), "not valid JSON");
  expect_one_error_line(check_config({"--upstream", "imap://x"}, {"POPGATE_MARK_SEEN=maybe"}),
                        "POPGATE_MARK_SEEN");
  expect_one_error_line(check_config({"--upstream", "imap://x"}, {"POPGATE_BOGUS=1"}), "POPGATE_BOGUS");
  expect_one_error_line(check_config({"--upstream", "imap://x", "--idle-timeout", "soon"}), "idle-timeout");
  expect_one_error_line(check_config({}), "--upstream is required");
  // The environment overrides the command line: a bad value there is an error even with a good one here.
  expect_one_error_line(
      check_config({"--upstream", "imap://x", "--log-format", "text"}, {"POPGATE_LOG_FORMAT=xml"}),
      "POPGATE_LOG_FORMAT");
}

TEST(CheckConfig, CertificatesAreLoaded) {
  const auto& certs = io::testing::test_certificates();
  ASSERT_EQ(certs.error, "");
  const RunResult good = check_config({"--upstream", "imap://x", "--tls-cert", certs.server_cert, "--tls-key",
                                       certs.server_key, "--listen-tls", "127.0.0.1:995"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(good.out, "configuration OK\n");

  expect_one_error_line(
      check_config({"--upstream", "imap://x", "--tls-cert", certs.garbage, "--tls-key", certs.server_key}),
      "tls-cert");
  expect_one_error_line(
      check_config({"--upstream", "imap://x", "--tls-cert", certs.server_cert, "--tls-key", certs.other_key}),
      "tls-key");
  expect_one_error_line(check_config({"--upstream", "imap://x", "--tls-cert", "/nonexistent/cert.pem",
                                      "--tls-key", certs.server_key}),
                        "/nonexistent/cert.pem");
  expect_one_error_line(check_config({"--upstream", "imaps://x", "--upstream-ca", "/nonexistent/ca.pem"}),
                        "/nonexistent/ca.pem");
}

}  // namespace
}  // namespace popgate::integration
