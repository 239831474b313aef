// Two popgate replicas sharing one real redis-server: the per-identity upstream session cap counts
// both replicas' sessions (against a real Dovecot), a place held by a replica killed outright comes
// back when its lease runs out, and a throttling answer one replica got makes the other back off
// without asking the upstream (a scripted upstream: no real server throttles on demand). And the
// ACL rights deploy/README.md gives the store's user are all that every shared limit needs.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "tests/integration/support/corpus.h"
#include "tests/integration/support/eventually.h"
#include "tests/integration/support/fake_imap_server.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/redis_server.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

std::string login_reply(uint16_t port, std::string_view user, std::string_view password) {
  Pop3Client client(port);
  std::string reply = client.login(user, password);
  if (reply.starts_with("+OK")) client.command("QUIT");
  return reply;
}

std::vector<std::string> store_args(const RedisServer& redis, std::vector<std::string> more) {
  std::vector<std::string> args = {
      "--state-store",         "redis://127.0.0.1:" + std::to_string(redis.port()),
      "--auth-failure-delay",  "0",
      "--upstream-reuse-time", "0"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

class SharedSessionCap : public MailTest {
 protected:
  void SetUp() override {
    redis_.start();
    start_dovecot(make_small_corpus(2));
  }
  void TearDown() override {
    if (HasFailure() && replica_b_) std::cerr << "---- replica B ----\n" << replica_b_->log_text() << "\n";
    MailTest::TearDown();
  }

  // One upstream session per identity, and no maildrop lock: many devices, one mailbox.
  void start_replicas(std::vector<std::string> more = {}) {
    more.insert(more.end(), {"--max-upstream-sessions-per-identity", "1", "--no-maildrop-lock"});
    start_popgate(store_args(redis_, more), PopgateOptions{.admin = true});
    replica_b_ = std::make_unique<PopgateProcess>(dovecot_->imap_port(), store_args(redis_, more),
                                                  PopgateOptions{.admin = true});
  }

  std::string place_keys() { return redis_.cli({"KEYS", "popgate:identity:*"}); }

  RedisServer redis_;
  std::unique_ptr<PopgateProcess> replica_b_;
};

TEST_F(SharedSessionCap, TheCapCountsTheSessionsOfEveryReplica) {
  start_replicas();
  auto holder = popgate_login();
  EXPECT_NE(place_keys().find(":sessions"), std::string::npos) << "the place is in the store";
  // B has no session of its own for this identity: only the store knows A's.
  EXPECT_EQ(login_reply(replica_b_->port(), kUser, kPassword).substr(0, 15), "-ERR [SYS/TEMP]");
  EXPECT_EQ(replica_b_->metric("popgate_upstream_sessions_capped_total"), 1.0);
  // Another identity has places of its own.
  EXPECT_EQ(login_reply(replica_b_->port(), kOtherUser, kOtherPassword).substr(0, 3), "+OK");

  ASSERT_EQ(holder->command("QUIT").substr(0, 3), "+OK");
  // Given back when A's upstream session is gone (a tick after QUIT), not when its lease runs out.
  std::string reply;
  EXPECT_TRUE(eventually(
      [&] {
        reply = login_reply(replica_b_->port(), kUser, kPassword);
        return reply.starts_with("+OK");
      },
      5s))
      << reply;
  EXPECT_TRUE(eventually([&] { return place_keys().empty(); }, 5s))
      << "every place given back: " << place_keys();
}

TEST_F(SharedSessionCap, APlaceHeldByAReplicaKilledOutrightComesBackWhenItsLeaseRunsOut) {
  start_replicas({"--maildrop-lease", "2"});
  auto holder = popgate_login();
  popgate_->send_signal(SIGKILL);
  ASSERT_TRUE(popgate_->wait_for_exit(5s).has_value());
  EXPECT_EQ(login_reply(replica_b_->port(), kUser, kPassword).substr(0, 15), "-ERR [SYS/TEMP]")
      << "the place outlives its holder";
  std::string reply;
  EXPECT_TRUE(eventually(
      [&] {
        reply = login_reply(replica_b_->port(), kUser, kPassword);
        return reply.starts_with("+OK");
      },
      10s))
      << reply;
}

TEST_F(SharedSessionCap, PlacesAreRenewedForAsLongAsTheUpstreamSessionLives) {
  start_replicas({"--maildrop-lease", "1"});
  auto holder = popgate_login();
  // Four lease lifetimes: only renewals keep the place.
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(500ms);
    ASSERT_EQ(holder->command("NOOP").substr(0, 3), "+OK");
  }
  EXPECT_EQ(login_reply(replica_b_->port(), kUser, kPassword).substr(0, 15), "-ERR [SYS/TEMP]");
  EXPECT_EQ(holder->command("QUIT").substr(0, 3), "+OK");
}

TEST(SharedUpstreamBackoff, AThrottlingAnswerOneReplicaGotMakesTheOtherBackOffWithoutAsking) {
  // What Exchange Online answers a mailbox it throttles (see upstream_throttle_test.cc).
  FakeImapScript script;
  script.login_answer = "NO [UNAVAILABLE] Server Unavailable. 15";
  FakeImapServer upstream(script);
  RedisServer redis;
  redis.start();
  const std::vector<std::string> args = store_args(redis, {"--upstream-backoff", "5"});
  PopgateProcess replica_a(upstream.port(), args, PopgateOptions{.admin = true});
  PopgateProcess replica_b(upstream.port(), args, PopgateOptions{.admin = true});

  EXPECT_TRUE(login_reply(replica_a.port(), "alice", "pw").starts_with("-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(upstream.logins(), 1);
  // A tells the store in the background, after its answer.
  ASSERT_TRUE(eventually([&] {
    return redis.cli({"KEYS", "popgate:identity:*"}).find(":backoff") != std::string::npos;
  })) << replica_a.log_text();

  // B never heard from the upstream, and still does not ask it.
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(login_reply(replica_b.port(), "alice", "pw").starts_with("-ERR [LOGIN-DELAY]")) << i;
  }
  EXPECT_EQ(upstream.logins(), 1) << replica_b.log_text();
  EXPECT_EQ(replica_b.metric("popgate_upstream_backoff_refusals_total"), 2.0);
  // Another identity is not held back.
  EXPECT_TRUE(login_reply(replica_b.port(), "bob", "pw").starts_with("-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(upstream.logins(), 2);

  // When the backoff ends (5 s), B asks the upstream again itself.
  EXPECT_TRUE(eventually([&] {
    login_reply(replica_b.port(), "alice", "pw");
    return upstream.logins() == 3;
  })) << replica_b.log_text();
}

// The rights of the `ACL SETUSER popgate ...` line in deploy/README.md: "-@all +ping ...".
std::string documented_acl_rights() {
  std::ifstream file(std::string(POPGATE_SOURCE_DIR) + "/deploy/README.md");
  std::stringstream text;
  text << file.rdbuf();
  const std::string readme = text.str();
  const std::string line_start = "ACL SETUSER popgate on >PASSWORD resetkeys resetchannels ~popgate:* ";
  const size_t at = readme.find(line_start);
  if (at == std::string::npos) return "";
  const size_t from = at + line_start.size();
  return readme.substr(from, readme.find('\n', from) - from);
}

class SharedStateAcl : public MailTest {};

TEST_F(SharedStateAcl, TheDocumentedRightsAreAllEverySharedLimitNeeds) {
  const std::string rights = documented_acl_rights();
  ASSERT_NE(rights.find("-@all"), std::string::npos) << "deploy/README.md lost its ACL line";
  RedisServer redis(
      {.acl_user = RedisAclUser{
           .name = "popgate", .password = "acl-pw", .key_pattern = "~popgate:*", .commands = rights}});
  redis.start();
  TempDir secrets("store-secrets");
  write_file(secrets.path() / "password", "acl-pw");
  start_dovecot(make_small_corpus(2));
  // Short leases, so that renewals run too; a cap, so that places are taken.
  std::vector<std::string> args =
      store_args(redis, {"--state-store-user", "popgate", "--state-store-password-file",
                         (secrets.path() / "password").string(), "--maildrop-lease", "0.6",
                         "--max-upstream-sessions-per-identity", "4"});
  start_popgate(args, PopgateOptions{.admin = true});
  PopgateProcess replica_b(dovecot_->imap_port(), args, PopgateOptions{.admin = true});

  {
    auto holder = popgate_login();  // a lease and a place
    EXPECT_EQ(login_reply(replica_b.port(), kUser, kPassword).substr(0, 13), "-ERR [IN-USE]");
    EXPECT_EQ(login_reply(replica_b.port(), kUser, "wrong").substr(0, 11), "-ERR [AUTH]");  // counted
    std::this_thread::sleep_for(1s);                                                        // renewed
    ASSERT_EQ(holder->command("QUIT").substr(0, 3), "+OK");                                 // released
  }
  std::string reply;
  EXPECT_TRUE(eventually(
      [&] {
        reply = login_reply(replica_b.port(), kUser, kPassword);  // a success forgets the failures
        return reply.starts_with("+OK");
      },
      5s))
      << reply;
  for (PopgateProcess* replica : {popgate_.get(), &replica_b}) {
    EXPECT_EQ(replica->metric("popgate_state_store_errors_total").value_or(0), 0.0) << replica->log_text();
    EXPECT_EQ(replica->metric("popgate_state_store_up"), 1.0);
  }
}

}  // namespace
}  // namespace popgate::integration
