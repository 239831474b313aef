// No passwords in the clear from a non-loopback client: popgate and the client run in a network
// namespace of their own where the client's address is 192.0.2.10 (TEST-NET-1), not 127.0.0.1.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

constexpr std::string_view kAddress = "192.0.2.10";

// popgate started by `unshare --net` after lo is brought up with 192.0.2.10 on it; its listener is
// 192.0.2.10:0 and the port is read from its "listening" log line. Nothing else runs in the
// namespace, so the upstream cannot be reached from it.
class NamespacedPopgate {
 public:
  explicit NamespacedPopgate(const std::vector<std::string>& extra_args) : dir_("popgate-netns") {
    SpawnOptions options;
    // unshare execs the shell and the shell execs popgate: one PID throughout, so the namespace is
    // /proc/PID/ns/net and stopping the child stops popgate.
    options.argv = {find_program("unshare"),
                    "--net",
                    "/bin/sh",
                    "-c",
                    "\"$1\" link set lo up && \"$1\" addr add \"$2\"/32 dev lo && shift 2 && exec \"$@\"",
                    "sh",
                    find_program("ip"),
                    std::string(kAddress),
                    POPGATE_BINARY,
                    "--listen",
                    std::string(kAddress) + ":0",
                    "--upstream",
                    "imap://127.0.0.1:" + std::to_string(free_port()),
                    "--auth-failure-delay",
                    "0",
                    "--log-level",
                    "debug",
                    "--log-format",
                    "text"};
    options.argv.insert(options.argv.end(), extra_args.begin(), extra_args.end());
    options.stderr_path = dir_ / "popgate.stderr";
    process_ = std::make_unique<ChildProcess>(options);
    auto started = [this] {
      // Stop waiting when it exited; reported below.
      if (!process_->running()) return std::string("{\"event\":\"started\"}");
      return log_text();
    };
    if (!wait_for_popgate_events(started, "started", 1) || !process_->running()) {
      throw std::runtime_error("popgate in a network namespace did not start:\n" + log_text());
    }
    const auto listening = popgate_events(log_text(), "listening");
    const std::string prefix = std::string(kAddress) + ":";
    const std::string address = listening.empty() ? "" : log_field(listening[0], "address");
    if (!address.starts_with(prefix)) throw std::runtime_error("no listening line:\n" + log_text());
    port_ = static_cast<uint16_t>(std::stoi(address.substr(prefix.size())));
  }

  uint16_t port() const { return port_; }
  // Runs a command inside the namespace: nsenter --net=/proc/PID/ns/net ...
  std::vector<std::string> nsenter() const {
    return {"nsenter", "--net=/proc/" + std::to_string(process_->pid()) + "/ns/net"};
  }
  std::string log_text() const {
    // The child creates the file after the fork.
    return std::filesystem::exists(dir_ / "popgate.stderr") ? read_file(dir_ / "popgate.stderr") : "";
  }

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  uint16_t port_ = 0;
};

class TlsPlaintextPolicy : public TlsMailTest {
 protected:
  std::vector<std::string> tls_args() const {
    return {"--tls-cert", certs().server_cert, "--tls-key", certs().server_key};
  }

  std::vector<std::string> dialog(const NamespacedPopgate& popgate, const std::vector<std::string>& steps) {
    return run_tls_dialog(std::string(kAddress), popgate.port(), certs().ca_cert, steps, popgate.nsenter());
  }

  void TearDown() override {
    if (HasFailure() && popgate_in_namespace_)
      std::cerr << "---- popgate stderr ----\n" << popgate_in_namespace_->log_text();
    TlsMailTest::TearDown();
  }

  std::unique_ptr<NamespacedPopgate> popgate_in_namespace_;
};

TEST_F(TlsPlaintextPolicy, NonLoopbackClientMustUseStlsBeforeSendingAPassword) {
  popgate_in_namespace_ = std::make_unique<NamespacedPopgate>(tls_args());
  const NamespacedPopgate& popgate = *popgate_in_namespace_;

  // "AUTH PLAIN" with the initial response for alice / s3cret-pw.
  const auto r = dialog(popgate, {"greeting", "multi:CAPA", "cmd:USER alice",
                                  "cmd:AUTH PLAIN AGFsaWNlAHMzY3JldC1wdw==", "multi:AUTH", "cmd:STLS", "tls",
                                  "multi:CAPA", "cmd:USER alice", "cmd:PASS s3cret-pw", "cmd:QUIT"});
  ASSERT_EQ(r.size(), 11u) << ::testing::PrintToString(r);
  EXPECT_EQ(r[0].rfind("+OK", 0), 0u) << r[0];
  EXPECT_EQ(r[1].find("|USER|"), std::string::npos) << "CAPA before TLS: " << r[1];
  EXPECT_EQ(r[1].find("SASL"), std::string::npos) << "CAPA before TLS: " << r[1];
  EXPECT_NE(r[1].find("|STLS|"), std::string::npos) << "CAPA before TLS: " << r[1];
  EXPECT_EQ(r[2].rfind("-ERR [AUTH] ", 0), 0u) << "USER in the clear: " << r[2];
  EXPECT_EQ(r[3].rfind("-ERR [AUTH] ", 0), 0u) << "AUTH PLAIN in the clear: " << r[3];
  EXPECT_EQ(r[4].find("PLAIN"), std::string::npos) << "AUTH lists no usable mechanism: " << r[4];
  EXPECT_EQ(r[5], "+OK Begin TLS negotiation now.");
  EXPECT_EQ(r[6].rfind("tls TLSv1.", 0), 0u) << r[6];
  EXPECT_NE(r[7].find("|USER|"), std::string::npos) << "CAPA after TLS: " << r[7];
  EXPECT_NE(r[7].find("|SASL PLAIN XOAUTH2 OAUTHBEARER|"), std::string::npos) << "CAPA after TLS: " << r[7];
  EXPECT_EQ(r[7].find("STLS"), std::string::npos) << "CAPA after TLS: " << r[7];
  EXPECT_EQ(r[8], "+OK") << "USER over TLS";
  // The password went on to the upstream, which does not exist in the namespace.
  EXPECT_EQ(r[9].rfind("-ERR [SYS/TEMP]", 0), 0u) << "PASS over TLS: " << r[9];
  EXPECT_EQ(r[10].rfind("+OK", 0), 0u) << r[10];

  // PASS alone is refused the same way.
  const auto pass = dialog(popgate, {"greeting", "cmd:PASS s3cret-pw", "cmd:QUIT"});
  ASSERT_EQ(pass.size(), 3u) << ::testing::PrintToString(pass);
  EXPECT_EQ(pass[1].rfind("-ERR [AUTH] ", 0), 0u) << pass[1];

  const std::string log = popgate.log_text();
  // Harness check: popgate saw the client at 192.0.2.10, not on loopback.
  const auto sessions = popgate_events(log, "session_open");
  ASSERT_EQ(sessions.size(), 2u) << log;
  for (const auto& session : sessions)
    EXPECT_TRUE(log_field(session, "peer").starts_with("192.0.2.10:")) << session;
  EXPECT_EQ(popgate_events(log, "login_failed").size(), 1u)
      << "only the login over TLS reached the upstream\n"
      << log;
}

TEST_F(TlsPlaintextPolicy, AllowPlaintextAuthLetsANonLoopbackClientLogInWithoutTls) {
  std::vector<std::string> args = tls_args();
  args.push_back("--allow-plaintext-auth");
  popgate_in_namespace_ = std::make_unique<NamespacedPopgate>(args);
  const NamespacedPopgate& popgate = *popgate_in_namespace_;

  const auto r =
      dialog(popgate, {"greeting", "multi:CAPA", "cmd:USER alice", "cmd:PASS s3cret-pw", "cmd:QUIT"});
  ASSERT_EQ(r.size(), 5u) << ::testing::PrintToString(r);
  EXPECT_NE(r[1].find("|USER|"), std::string::npos) << r[1];
  EXPECT_NE(r[1].find("|SASL PLAIN XOAUTH2 OAUTHBEARER|"), std::string::npos) << r[1];
  EXPECT_NE(r[1].find("|STLS|"), std::string::npos) << "TLS is still offered: " << r[1];
  EXPECT_EQ(r[2], "+OK");
  EXPECT_EQ(r[3].rfind("-ERR [SYS/TEMP]", 0), 0u) << "PASS went on to the (unreachable) upstream: " << r[3];
  EXPECT_EQ(r[4].rfind("+OK", 0), 0u) << r[4];
  const auto sessions = popgate_events(popgate.log_text(), "session_open");
  ASSERT_EQ(sessions.size(), 1u) << popgate.log_text();
  EXPECT_TRUE(log_field(sessions[0], "peer").starts_with("192.0.2.10:")) << sessions[0];
}

}  // namespace
}  // namespace popgate::integration
