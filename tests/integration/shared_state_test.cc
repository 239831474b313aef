// Two popgate replicas sharing one real redis-server (with a password) in front of one real
// Dovecot: the maildrop lock holds across them; a replica killed outright frees its maildrops when
// the lease runs out; a clean QUIT frees it at once; leases are renewed while a session lives and
// taken again after the store restarted empty; the store killed or stalled costs logins nothing
// (failure open) or gets them [SYS/TEMP] (failure closed), the mailbox exact afterwards, /healthz
// answering throughout; a wrong password or certificate is one clear line at start.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/redis_server.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStorePassword = "store-pw-7";

RunResult check_config(std::vector<std::string> args) {
  SpawnOptions options;
  options.argv = {POPGATE_BINARY, "--check-config", "--upstream", "imap://127.0.0.1:1"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return run_program(std::move(options), 10s);
}

class SharedState : public MailTest {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<RedisServer>(RedisServerOptions{.password = kStorePassword});
    redis_->start();
    write_file(secrets_ / "store-password", std::string(kStorePassword) + "\n");
    start_dovecot(make_small_corpus(3));
  }

  void TearDown() override {
    if (HasFailure() && replica_b_) std::cerr << "---- replica B ----\n" << replica_b_->log_text() << "\n";
    MailTest::TearDown();
  }

  std::vector<std::string> store_args(std::vector<std::string> more = {}) const {
    std::vector<std::string> args = {"--state-store",
                                     "redis://127.0.0.1:" + std::to_string(redis_->port()),
                                     "--state-store-password-file",
                                     (secrets_ / "store-password").string(),
                                     "--auth-failure-delay",
                                     "0",
                                     "--upstream-reuse-time",
                                     "0"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  // Replica A is MailTest's popgate_; B is a second process with the same settings.
  void start_replicas(std::vector<std::string> more = {}) {
    start_popgate(store_args(more), PopgateOptions{.admin = true});
    replica_b_ = std::make_unique<PopgateProcess>(dovecot_->imap_port(), store_args(more),
                                                  PopgateOptions{.admin = true});
  }

  std::string login_reply(uint16_t port) {
    Pop3Client client(port);
    std::string reply = client.login(kUser, kPassword);
    if (reply.rfind("+OK", 0) == 0) client.command("QUIT");
    return reply;
  }

  // Logs in (and QUITs) until the reply is not `while_reply` any more, or `timeout` passes.
  std::string login_once_not(uint16_t port, std::string_view while_reply, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::string reply = login_reply(port);
      if (!reply.starts_with(while_reply) || std::chrono::steady_clock::now() >= deadline) return reply;
      std::this_thread::sleep_for(100ms);
    }
  }

  std::string store_keys() { return redis_->cli({"KEYS", "popgate:maildrop:*"}); }

  // The status line of GET `path` on the admin endpoint; "" if it did not answer.
  std::string admin_status(uint16_t admin_port, const std::string& path) {
    try {
      int fd = connect_loopback(admin_port);
      const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      if (::write(fd, request.data(), request.size()) < 0) return "";
      char buffer[64] = {};
      const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
      ::close(fd);
      return n > 0 ? std::string(buffer).substr(0, std::string(buffer).find('\r')) : "";
    } catch (const std::runtime_error&) {
      return "";
    }
  }
  bool healthz(uint16_t admin_port) { return admin_status(admin_port, "/healthz") == "HTTP/1.1 200 OK"; }

  TempDir secrets_{"store-secrets"};
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<PopgateProcess> replica_b_;
};

TEST_F(SharedState, AMaildropHeldOnOneReplicaIsInUseOnTheOtherUntilQuit) {
  start_replicas();
  auto holder = popgate_login();
  EXPECT_NE(store_keys().find("popgate:maildrop:"), std::string::npos) << "the lease is in the store";
  Pop3Client second(replica_b_->port());
  EXPECT_EQ(second.login(kUser, kPassword).substr(0, 13), "-ERR [IN-USE]");
  EXPECT_EQ(replica_b_->metric("popgate_maildrop_lock_refusals_total{holder=\"replica\"}"), 1.0);
  EXPECT_EQ(login_reply(popgate_->port()).substr(0, 13), "-ERR [IN-USE]") << "and on its own replica";
  ASSERT_EQ(holder->command("QUIT").substr(0, 3), "+OK");
  // Released at QUIT, not when the lease runs out (30 s).
  EXPECT_EQ(login_reply(replica_b_->port()).substr(0, 3), "+OK");
  EXPECT_EQ(store_keys(), "") << "every lease given back";
}

TEST_F(SharedState, FailuresCountedOnOneReplicaLockTheNameOutOnTheOther) {
  start_replicas({"--auth-throttle-max-failures", "3", "--auth-throttle-max-failures-per-ip", "0"});
  auto wrong = [](uint16_t port) {
    Pop3Client client(port);
    return client.login(kUser, "wrong password");
  };
  EXPECT_EQ(wrong(popgate_->port()).substr(0, 11), "-ERR [AUTH]");
  EXPECT_EQ(wrong(replica_b_->port()).substr(0, 11), "-ERR [AUTH]");
  // Two on B would not lock the name out; A's failure makes three.
  EXPECT_EQ(login_reply(replica_b_->port()).substr(0, 3), "+OK") << "two failures: still under the threshold";
  // ... but a success forgets the name's failures: start again, spread over both replicas.
  EXPECT_EQ(wrong(popgate_->port()).substr(0, 11), "-ERR [AUTH]");
  EXPECT_EQ(wrong(replica_b_->port()).substr(0, 11), "-ERR [AUTH]");
  EXPECT_EQ(wrong(popgate_->port()).substr(0, 11), "-ERR [AUTH]");
  // The counting goes in the background: the third failure reaches the store a moment after its answer.
  std::string reply;
  for (int i = 0; i < 50; ++i) {
    reply = login_reply(replica_b_->port());
    if (reply.starts_with("-ERR [LOGIN-DELAY]")) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(reply.substr(0, 18), "-ERR [LOGIN-DELAY]")
      << "B counted one, A two: the right password is refused too";
  EXPECT_EQ(login_reply(popgate_->port()).substr(0, 18), "-ERR [LOGIN-DELAY]");
  EXPECT_EQ(imap_uids().size(), 3u);
}

TEST_F(SharedState, AReplicaKilledOutrightFreesItsMaildropsWhenTheLeaseRunsOut) {
  start_replicas({"--maildrop-lease", "2"});
  auto holder = popgate_login();
  popgate_->send_signal(SIGKILL);
  ASSERT_TRUE(popgate_->wait_for_exit(5s).has_value());
  EXPECT_EQ(login_reply(replica_b_->port()).substr(0, 13), "-ERR [IN-USE]")
      << "the lease outlives its holder";
  EXPECT_EQ(login_when_free(replica_b_->port(), kUser, kPassword, 10s).substr(0, 3), "+OK");
}

TEST_F(SharedState, TheLeaseIsRenewedForAsLongAsTheSessionLives) {
  start_replicas({"--maildrop-lease", "1"});
  auto holder = popgate_login();
  // Four lease lifetimes: only renewals keep it.
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(500ms);
    ASSERT_EQ(holder->command("NOOP").substr(0, 3), "+OK");
  }
  EXPECT_EQ(login_reply(replica_b_->port()).substr(0, 13), "-ERR [IN-USE]");
  EXPECT_EQ(holder->command("QUIT").substr(0, 3), "+OK");
}

TEST_F(SharedState, LeasesAreTakenAgainAfterTheStoreRestartedEmpty) {
  start_replicas({"--maildrop-lease", "1.5"});
  auto holder = popgate_login();
  redis_->restart();
  ASSERT_EQ(store_keys(), "");
  // The next renewals (every 0.5 s) find no lease and take it again.
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "maildrop_lease_retaken", 1));
  EXPECT_NE(store_keys().find("popgate:maildrop:"), std::string::npos);
  EXPECT_EQ(login_reply(replica_b_->port()).substr(0, 13), "-ERR [IN-USE]");
  EXPECT_GE(popgate_->metric("popgate_maildrop_lease_retakes_total").value_or(0), 1.0);
}

TEST_F(SharedState, WithTheStoreGoneFailureOpenFallsBackToEachReplicasOwnLocks) {
  start_replicas({"--maildrop-lease", "2"});
  redis_->kill();
  ASSERT_TRUE(
      wait_for_popgate_events([this] { return popgate_->log_text(); }, "state_store_down", 1, "", 15s) ||
      login_reply(popgate_->port()).rfind("+OK", 0) == 0);
  // Logins go on, each replica locking on its own; deletions after QUIT are as exact as ever.
  auto session = popgate_login();
  EXPECT_EQ(login_reply(popgate_->port()).substr(0, 13), "-ERR [IN-USE]") << "the replica's own lock";
  ASSERT_EQ(session->command("DELE 1").substr(0, 3), "+OK");
  ASSERT_EQ(session->command("QUIT").substr(0, 3), "+OK");
  EXPECT_EQ(imap_uids().size(), 2u);
  EXPECT_TRUE(healthz(popgate_->admin_port()));
  EXPECT_NE(admin_status(popgate_->admin_port(), "/readyz").find(" 200 "), std::string::npos)
      << "open: still serving";
  EXPECT_EQ(popgate_events(popgate_->log_text(), "state_store_down").size(), 1u) << "one line when it goes";
  EXPECT_EQ(popgate_->metric("popgate_state_store_up"), 0.0);
  EXPECT_GE(popgate_->metric("popgate_maildrop_locks_local_only_total").value_or(0), 1.0);
  redis_->restart();  // on the same port
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "state_store_up", 1, "", 15s));
  EXPECT_EQ(popgate_->metric("popgate_state_store_up"), 1.0);
}

TEST_F(SharedState, WithTheStoreGoneFailureClosedAnswersSysTemp) {
  start_replicas({"--state-store-failure", "closed"});
  EXPECT_EQ(login_reply(popgate_->port()).substr(0, 3), "+OK");
  redis_->stop();
  EXPECT_EQ(login_reply(popgate_->port()).substr(0, 15), "-ERR [SYS/TEMP]");
  EXPECT_EQ(imap_uids().size(), 3u) << "nothing touched";
  EXPECT_TRUE(healthz(popgate_->admin_port()));
  EXPECT_NE(admin_status(popgate_->admin_port(), "/readyz").find(" 503 "), std::string::npos)
      << "the Service sends new clients to a replica that can serve";
  redis_->restart();
  // Back once the replica has reconnected (its backoff is at most 5 s).
  EXPECT_EQ(login_once_not(popgate_->port(), "-ERR [SYS/TEMP]", 15s).substr(0, 3), "+OK");
  EXPECT_NE(admin_status(popgate_->admin_port(), "/readyz").find(" 200 "), std::string::npos);
}

// Whichever failure mode: it decides logins, never a session already in TRANSACTION.
TEST_F(SharedState, TheStoreKilledMidSessionThenRestartedCostsTheSessionNothing) {
  size_t left = 3;
  for (const char* mode : {"open", "closed"}) {
    SCOPED_TRACE(mode);
    start_replicas({"--state-store-failure", mode, "--maildrop-lease", "1"});
    auto session = popgate_login();
    ASSERT_EQ(session->command("DELE 1").substr(0, 3), "+OK");
    redis_->kill();
    std::this_thread::sleep_for(1500ms);  // renewals fail meanwhile
    EXPECT_TRUE(healthz(popgate_->admin_port()));
    EXPECT_EQ(session->command("NOOP").substr(0, 3), "+OK");
    redis_->restart();
    ASSERT_EQ(session->command("QUIT").substr(0, 3), "+OK");
    EXPECT_EQ(imap_uids().size(), --left) << "exactly the one marked is gone";
    // After the restart the leases are taken again, and logins on either replica work.
    EXPECT_EQ(login_once_not(replica_b_->port(), "-ERR [SYS/TEMP]", 15s).substr(0, 3), "+OK");
    session.reset();
    popgate_.reset();
    replica_b_.reset();
  }
}

TEST_F(SharedState, AStalledStoreCostsALoginAtMostItsTimeout) {
  start_replicas({"--state-store-timeout", "0.5", "--state-store-connect-timeout", "0.5"});
  redis_->pause();
  const auto began = std::chrono::steady_clock::now();
  auto session = popgate_login();  // failure open: after the timeout, the replica's own lock
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_TRUE(healthz(popgate_->admin_port())) << "the loop is not blocked";
  EXPECT_EQ(session->command("QUIT").substr(0, 3), "+OK");
  redis_->resume();
  EXPECT_LT(took, 10s);
  EXPECT_EQ(login_when_free(replica_b_->port(), kUser, kPassword, 10s).substr(0, 3), "+OK");
}

TEST_F(SharedState, AWrongStorePasswordIsOneClearLineAtStart) {
  write_file(secrets_ / "wrong", "not-it\n");
  start_popgate({"--state-store", "redis://127.0.0.1:" + std::to_string(redis_->port()),
                 "--state-store-password-file", (secrets_ / "wrong").string()});
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "state_store_down", 1));
  std::this_thread::sleep_for(1s);
  const auto lines = popgate_events(popgate_->log_text(), "state_store_down");
  ASSERT_EQ(lines.size(), 1u) << joined(lines);
  EXPECT_NE(lines[0].find("WRONGPASS"), std::string::npos) << lines[0];
  EXPECT_EQ(popgate_->log_text().find("not-it"), std::string::npos) << "the password is never logged";
}

TEST_F(SharedState, AMissingPasswordFileFailsCheckConfig) {
  RunResult result = check_config({"--state-store", "redis://127.0.0.1:1", "--state-store-password-file",
                                   (secrets_ / "absent").string()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("state-store-password-file: cannot read"), std::string::npos) << result.err;
}

TEST_F(SharedState, CredentialsInTheUrlAreRefused) {
  RunResult result = check_config({"--state-store", "redis://popgate:hunter2@127.0.0.1:6379"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("credentials do not belong in the URL"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("hunter2"), std::string::npos) << "not even in the error";
}

// ---------------------------------------------------------------- TLS

class SharedStateTls : public MailTest {
 protected:
  void start_store(RedisCertificate certificate) {
    redis_ = std::make_unique<RedisServer>(
        RedisServerOptions{.password = kStorePassword, .tls = true, .certificate = certificate});
    redis_->start();
    write_file(secrets_ / "store-password", kStorePassword);
    start_dovecot(make_small_corpus(1));
  }
  std::vector<std::string> args(const std::string& ca) const {
    return {"--state-store",
            "rediss://127.0.0.1:" + std::to_string(redis_->port()),
            "--state-store-ca",
            ca,
            "--state-store-password-file",
            (secrets_ / "store-password").string()};
  }
  TempDir secrets_{"store-secrets"};
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(SharedStateTls, LeasesGoOverVerifiedTls) {
  start_store(RedisCertificate::kTrusted);
  start_popgate(args(redis_->ca_file().string()));
  auto session = popgate_login();
  EXPECT_NE(redis_->cli({"KEYS", "popgate:maildrop:*"}).find("popgate:maildrop:"), std::string::npos);
  EXPECT_EQ(popgate_events(popgate_->log_text(), "state_store_down").size(), 0u) << popgate_->log_text();
}

TEST_F(SharedStateTls, AnUnknownCaOrTheWrongNameIsOneClearLineAtStart) {
  for (auto [certificate, expected] : {std::pair{RedisCertificate::kUnknownCa, "certificate verify failed"},
                                       std::pair{RedisCertificate::kWrongHost, "mismatch"}}) {
    start_store(certificate);
    start_popgate(args(redis_->ca_file().string()));
    ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "state_store_down", 1));
    const auto lines = popgate_events(popgate_->log_text(), "state_store_down");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find(expected), std::string::npos) << lines[0];
    popgate_.reset();
    dovecot_.reset();
    redis_.reset();
  }
}

}  // namespace
}  // namespace popgate::integration
