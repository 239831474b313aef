// Two popgate replicas that find their Redis through a real redis-sentinel
// (--state-store redis-sentinel://...), in front of one real Dovecot: the maildrop lock holds
// across them; a failover (the master killed, the replica promoted) lets the sessions in progress
// finish, moves the leases to the new master and leaves the mailbox exact, /healthz answering
// throughout; an unknown master name or no sentinel at all is one clear line at start; and
// --check-config accepts the URL.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/redis_sentinel.h"
#include "tests/integration/support/redis_server.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStorePassword = "store-pw-9";

class SharedStateSentinel : public MailTest {
 protected:
  void SetUp() override {
    master_ = std::make_unique<RedisServer>(
        RedisServerOptions{.password = kStorePassword, .masterauth = kStorePassword});
    master_->start();
    replica_ = std::make_unique<RedisServer>(RedisServerOptions{
        .password = kStorePassword, .replica_of = master_->port(), .masterauth = kStorePassword});
    replica_->start();
    ASSERT_TRUE(replica_->wait_for_replication(10s)) << replica_->log_text();
    sentinel_ = std::make_unique<RedisSentinel>(
        RedisSentinelOptions{.master_port = master_->port(), .auth_pass = kStorePassword});
    sentinel_->start();
    write_file(secrets_ / "store-password", std::string(kStorePassword) + "\n");
    start_dovecot(make_small_corpus(3));
  }

  void TearDown() override {
    if (HasFailure()) {
      if (replica_b_) std::cerr << "---- replica B ----\n" << replica_b_->log_text() << "\n";
      if (sentinel_) std::cerr << "---- sentinel ----\n" << sentinel_->log_text() << "\n";
    }
    MailTest::TearDown();
  }

  std::string sentinel_url(const std::string& master_name = "popgate") const {
    return "redis-sentinel://127.0.0.1:" + std::to_string(sentinel_->port()) + "/" + master_name;
  }

  std::vector<std::string> store_args(std::vector<std::string> more = {}) const {
    std::vector<std::string> args = {"--state-store",
                                     sentinel_url(),
                                     "--state-store-password-file",
                                     (secrets_ / "store-password").string(),
                                     "--auth-failure-delay",
                                     "0",
                                     "--upstream-reuse-time",
                                     "0"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

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

  bool healthz(uint16_t admin_port) {
    try {
      int fd = connect_loopback(admin_port);
      const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      if (::write(fd, request.data(), request.size()) < 0) return false;
      char buffer[64] = {};
      const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
      ::close(fd);
      return n > 0 && std::string(buffer).starts_with("HTTP/1.1 200 OK");
    } catch (const std::runtime_error&) {
      return false;
    }
  }

  static std::string leases(RedisServer& server) { return server.cli({"KEYS", "popgate:maildrop:*"}); }
  static std::string address(const RedisServer& server) {
    return "127.0.0.1:" + std::to_string(server.port());
  }

  TempDir secrets_{"store-secrets"};
  std::unique_ptr<RedisServer> master_;
  std::unique_ptr<RedisServer> replica_;
  std::unique_ptr<RedisSentinel> sentinel_;
  std::unique_ptr<PopgateProcess> replica_b_;
};

TEST_F(SharedStateSentinel, AMaildropHeldOnOneReplicaIsInUseOnTheOther) {
  start_replicas();
  auto holder = popgate_login();
  EXPECT_NE(leases(*master_).find("popgate:maildrop:"), std::string::npos) << "the lease is in the master";
  Pop3Client second(replica_b_->port());
  EXPECT_EQ(second.login(kUser, kPassword).substr(0, 13), "-ERR [IN-USE]");
  ASSERT_EQ(holder->command("QUIT").substr(0, 3), "+OK");
  EXPECT_EQ(login_reply(replica_b_->port()).substr(0, 3), "+OK");
  EXPECT_EQ(leases(*master_), "");
  // Where the state lives, said once per process.
  const auto found = popgate_events(popgate_->log_text(), "state_store_master");
  ASSERT_EQ(found.size(), 1u) << joined(found);
  EXPECT_EQ(log_field(found[0], "master"), address(*master_));
  EXPECT_EQ(log_field(found[0], "store"), sentinel_url());
  EXPECT_EQ(popgate_events(popgate_->log_text(), "state_store_down").size(), 0u) << popgate_->log_text();
  EXPECT_EQ(popgate_->log_text().find(kStorePassword), std::string::npos) << "the password is never logged";
}

TEST_F(SharedStateSentinel, AFailoverLetsSessionsFinishAndMovesTheLocksToTheNewMaster) {
  start_replicas({"--maildrop-lease", "3"});
  ASSERT_TRUE(sentinel_->wait_for_replicas(1, 10s));
  auto holder = popgate_login();
  ASSERT_NE(leases(*master_).find("popgate:maildrop:"), std::string::npos);
  ASSERT_EQ(holder->command("DELE 1").substr(0, 3), "+OK");

  master_->kill();
  // While the sentinel notices and promotes: the session goes on, both replicas stay healthy.
  int unhealthy = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (sentinel_->master_address() != address(*replica_) && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(holder->command("NOOP").substr(0, 3), "+OK");
    unhealthy += healthz(popgate_->admin_port()) ? 0 : 1;
    unhealthy += healthz(replica_b_->admin_port()) ? 0 : 1;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(sentinel_->master_address(), address(*replica_)) << "the sentinel promoted the replica";
  EXPECT_EQ(unhealthy, 0) << "/healthz answered throughout";

  // Both replicas find the new master (a line each, naming the old one too).
  for (PopgateProcess* process : {popgate_.get(), replica_b_.get()}) {
    ASSERT_TRUE(wait_for_popgate_events([process] { return process->log_text(); }, "state_store_master", 1,
                                        address(*replica_), 20s))
        << process->log_text();
    const auto moved = popgate_events(process->log_text(), "state_store_master");
    EXPECT_EQ(log_field(moved.back(), "previous"), address(*master_)) << joined(moved);
  }
  // The session in progress finishes; its deletion is applied.
  ASSERT_EQ(holder->command("NOOP").substr(0, 3), "+OK");
  ASSERT_EQ(holder->command("QUIT").substr(0, 3), "+OK");
  holder.reset();
  EXPECT_EQ(imap_uids().size(), 2u) << "exactly the one message deleted";

  // A login after the failover takes its lease in the new master, and the other replica sees it.
  std::string reply = login_when_free(replica_b_->port(), kUser, kPassword, 10s);
  ASSERT_EQ(reply.substr(0, 3), "+OK") << reply;
  Pop3Client after(replica_b_->port());
  ASSERT_EQ(after.login(kUser, kPassword).substr(0, 3), "+OK");
  EXPECT_NE(leases(*replica_).find("popgate:maildrop:"), std::string::npos)
      << "the lease is in the new master";
  EXPECT_EQ(login_reply(popgate_->port()).substr(0, 13), "-ERR [IN-USE]") << "across replicas, as before";
  ASSERT_EQ(after.command("QUIT").substr(0, 3), "+OK");
  EXPECT_EQ(imap_uids().size(), 2u);
  EXPECT_TRUE(healthz(popgate_->admin_port()));
  EXPECT_TRUE(healthz(replica_b_->admin_port()));
}

TEST_F(SharedStateSentinel, AnUnknownMasterNameIsOneClearLineAtStart) {
  start_popgate({"--state-store", sentinel_url("not-popgate"), "--state-store-password-file",
                 (secrets_ / "store-password").string()});
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "state_store_down", 1));
  std::this_thread::sleep_for(1s);
  const auto lines = popgate_events(popgate_->log_text(), "state_store_down");
  ASSERT_EQ(lines.size(), 1u) << joined(lines);
  EXPECT_EQ(log_field(lines[0], "reason"), "sentinel 127.0.0.1:" + std::to_string(sentinel_->port()) +
                                               " does not know master 'not-popgate'");
  EXPECT_EQ(log_field(lines[0], "store"), sentinel_url("not-popgate"));
  EXPECT_EQ(login_reply(popgate_->port()).substr(0, 3), "+OK") << "failure open: logins go on";
}

TEST_F(SharedStateSentinel, NoSentinelReachableIsOneClearLineAtStart) {
  const uint16_t nothing = free_port();
  start_popgate({"--state-store", "redis-sentinel://127.0.0.1:" + std::to_string(nothing) + "/popgate",
                 "--state-store-password-file", (secrets_ / "store-password").string()});
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "state_store_down", 1));
  std::this_thread::sleep_for(1s);
  const auto lines = popgate_events(popgate_->log_text(), "state_store_down");
  ASSERT_EQ(lines.size(), 1u) << joined(lines);
  EXPECT_EQ(log_field(lines[0], "reason"),
            "no sentinel answered: connect 127.0.0.1:" + std::to_string(nothing) + ": connection refused");
}

TEST(SharedStateSentinelConfig, CheckConfigAcceptsTheUrl) {
  SpawnOptions options;
  options.argv = {POPGATE_BINARY,  "--check-config",
                  "--upstream",    "imap://127.0.0.1:1",
                  "--state-store", "redis-sentinel://10.0.0.5:26379,10.0.0.6:26379,10.0.0.7/popgate/2"};
  RunResult result = run_program(std::move(options), 10s);
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

}  // namespace
}  // namespace popgate::integration
