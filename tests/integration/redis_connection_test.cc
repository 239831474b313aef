// io::RedisConnection against a real redis-server on loopback: login (requirepass, an ACL user,
// TLS), pipelining in order, EVALSHA falling back to EVAL after the server lost its scripts, and
// the faults a shared store has: refused, killed, stalled, restarted empty, the wrong password,
// an unknown CA, the wrong host name.
#include "gateway/io/redis_connection.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/integration/support/redis_server.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::integration {
namespace {

using io::RedisConnection;
using io::RedisReply;
using io::testing::run_for;
using io::testing::run_until;

constexpr const char* kPassword = "store-pw-1";

// One command's outcome, once it came.
struct Answer {
  std::optional<Result<RedisReply>> result;
  bool done() const { return result.has_value(); }
  bool ok() const { return result && result->ok(); }
  const RedisReply& reply() const { return result->value(); }
  std::string error() const { return result && !result->ok() ? result->error().detail : ""; }
};

class RedisConnectionTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisConnection> connect(const RedisServer& server, std::string password = kPassword,
                                           std::string user = "", io::RedisOptions options = {}) {
    io::RedisEndpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = server.port();
    endpoint.user = std::move(user);
    endpoint.password = SecretString(password);
    auto connection = std::make_unique<RedisConnection>(loop_, std::move(endpoint), nullptr, options);
    connection->set_state_listener([this](bool up, const std::string& reason) {
      transitions_.push_back(up ? "up" : "down: " + reason);
    });
    return connection;
  }

  Answer run(RedisConnection& connection, std::vector<std::string> args) {
    Answer answer;
    connection.command(std::move(args),
                       [&answer](Result<RedisReply> result) { answer.result = std::move(result); });
    EXPECT_TRUE(run_until(loop_, [&] { return answer.done(); }));
    return answer;
  }

  io::Loop loop_;
  std::vector<std::string> transitions_;
};

TEST_F(RedisConnectionTest, LogsInAndAnswersPipelinedCommandsInOrder) {
  RedisServer server({.password = kPassword});
  server.start();
  auto connection = connect(server);
  constexpr int kCommands = 200;
  std::vector<Answer> answers(kCommands);
  // Sent before the connection is up: they wait for the login, then go out together.
  for (int i = 0; i < kCommands; ++i) {
    connection->command({"INCR", "counter"},
                        [&answers, i](Result<RedisReply> result) { answers[i].result = std::move(result); });
  }
  ASSERT_TRUE(run_until(loop_, [&] { return answers.back().done(); }));
  for (int i = 0; i < kCommands; ++i) {
    ASSERT_TRUE(answers[i].ok()) << i << ": " << answers[i].error();
    EXPECT_EQ(answers[i].reply().integer, i + 1) << "replies in the order of the commands";
  }
  EXPECT_TRUE(connection->up());
  EXPECT_EQ(transitions_, std::vector<std::string>{"up"});
  EXPECT_EQ(server.cli({"GET", "counter"}), std::to_string(kCommands));
}

TEST_F(RedisConnectionTest, AnErrorReplyIsAReplyNotAFailure) {
  RedisServer server({.password = kPassword});
  server.start();
  auto connection = connect(server);
  Answer answer = run(*connection, {"NOSUCHCOMMAND"});
  ASSERT_TRUE(answer.ok()) << answer.error();
  EXPECT_TRUE(answer.reply().is_error());
  EXPECT_EQ(answer.reply().error_code(), "ERR");
  EXPECT_TRUE(run(*connection, {"PING"}).ok()) << "the connection carries on";
}

TEST_F(RedisConnectionTest, AnAclUserLogsInWithItsName) {
  RedisServer server({.acl_user = RedisAclUser{"popgate", "acl-pw", "~popgate:*", "+@all"}});
  server.start();
  auto connection = connect(server, "acl-pw", "popgate");
  Answer allowed = run(*connection, {"SET", "popgate:k", "v"});
  ASSERT_TRUE(allowed.ok()) << allowed.error();
  EXPECT_TRUE(allowed.reply().is_ok());
  Answer refused = run(*connection, {"SET", "elsewhere", "v"});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused.reply().error_code(), "NOPERM");
}

TEST_F(RedisConnectionTest, AWrongPasswordIsOneClearReasonAndCommandsFailFast) {
  RedisServer server({.password = kPassword});
  server.start();
  auto connection = connect(server, "not-the-password");
  Answer answer = run(*connection, {"PING"});
  EXPECT_FALSE(answer.ok());
  EXPECT_NE(answer.error().find("WRONGPASS"), std::string::npos) << answer.error();
  ASSERT_FALSE(transitions_.empty());
  EXPECT_NE(transitions_[0].find("the store refused the login: WRONGPASS"), std::string::npos)
      << transitions_[0];
  // It keeps trying (with a growing wait) but tells its listener once.
  run_for(loop_, 500);
  EXPECT_EQ(transitions_.size(), 1u);
  EXPECT_FALSE(connection->up());
  EXPECT_NE(connection->down_reason().find("WRONGPASS"), std::string::npos);
}

TEST_F(RedisConnectionTest, NoPasswordWhereOneIsRequiredIsRefusedAtLogin) {
  RedisServer server({.password = kPassword});
  server.start();
  auto connection = connect(server, "");
  Answer answer = run(*connection, {"PING"});
  EXPECT_FALSE(answer.ok());
  EXPECT_NE(answer.error().find("NOAUTH"), std::string::npos) << answer.error();
}

TEST_F(RedisConnectionTest, ANewConnectionAfterTheServerRestartedAndScriptsFallBackToEval) {
  RedisServer server({.password = kPassword});
  server.start();
  auto connection = connect(server);
  const io::RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  Answer first;
  connection->eval(script, {"n"}, {"5"}, [&](Result<RedisReply> r) { first.result = std::move(r); });
  ASSERT_TRUE(run_until(loop_, [&] { return first.done(); }));
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ(first.reply().integer, 5) << "NOSCRIPT on a fresh server, then EVAL";
  EXPECT_EQ(server.cli({"SCRIPT", "EXISTS", script.sha1}), "1");

  server.restart();  // empty: no keys, no scripts
  // The old connection is gone; the first command may fail with it, the next ones go through.
  Answer again;
  for (int attempt = 0; attempt < 50 && !again.ok(); ++attempt) {
    again = Answer{};
    connection->eval(script, {"n"}, {"7"}, [&](Result<RedisReply> r) { again.result = std::move(r); });
    ASSERT_TRUE(run_until(loop_, [&] { return again.done(); }));
    if (!again.ok()) run_for(loop_, 100);
  }
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again.reply().integer, 7) << "NOSCRIPT on the restarted server, then EVAL; the key was gone too";
}

TEST_F(RedisConnectionTest, AKilledServerFailsCommandsFastUntilItIsBack) {
  RedisServer server({.password = kPassword});
  server.start();
  auto connection =
      connect(server, kPassword, "",
              io::RedisOptions{.reconnect_backoff_min_ms = 50, .reconnect_backoff_max_ms = 200});
  ASSERT_TRUE(run(*connection, {"PING"}).ok());
  server.kill();
  // The broken link is noticed, reconnecting fails: down, and commands answer at once.
  ASSERT_TRUE(run_until(loop_, [&] { return !transitions_.empty() && transitions_.back() != "up"; }));
  const uint64_t before = loop_.now_ms();
  Answer down = run(*connection, {"PING"});
  EXPECT_FALSE(down.ok());
  EXPECT_NE(down.error().find("unreachable"), std::string::npos) << down.error();
  EXPECT_LT(loop_.now_ms() - before, 100u) << "fail fast, not after a timeout";
  server.restart();  // on the same port
  ASSERT_TRUE(run_until(loop_, [&] { return connection->up(); }));
  EXPECT_TRUE(run(*connection, {"PING"}).ok());
  EXPECT_EQ(transitions_.back(), "up");
}

TEST_F(RedisConnectionTest, AStalledServerCostsACommandItsTimeout) {
  RedisServer server({.password = kPassword});
  server.start();
  auto connection =
      connect(server, kPassword, "", io::RedisOptions{.connect_timeout_ms = 300, .command_timeout_ms = 300});
  ASSERT_TRUE(run(*connection, {"PING"}).ok());
  server.pause();
  const uint64_t before = loop_.now_ms();
  Answer stalled = run(*connection, {"PING"});
  EXPECT_FALSE(stalled.ok());
  EXPECT_NE(stalled.error().find("timed out"), std::string::npos) << stalled.error();
  EXPECT_LT(loop_.now_ms() - before, 2'000u);
  server.resume();
  ASSERT_TRUE(run_until(loop_, [&] { return connection->up(); }));
  EXPECT_TRUE(run(*connection, {"PING"}).ok());
}

TEST_F(RedisConnectionTest, AServerTurnedReadOnlyCostsTheConnectionNotJustTheCommand) {
  RedisServer server({.password = kPassword, .masterauth = kPassword});
  server.start();
  auto connection = connect(server);
  ASSERT_TRUE(run(*connection, {"SET", "k", "1"}).ok());
  // A failover behind one endpoint that keeps its connections: the node is a replica now.
  server.cli({"REPLICAOF", "127.0.0.1", "1"});
  Answer refused = run(*connection, {"SET", "k", "2"});
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("read-only"), std::string::npos) << refused.error();
  server.cli({"REPLICAOF", "NO", "ONE"});
  ASSERT_TRUE(run_until(loop_, [&] { return connection->up(); }));
  Answer written = run(*connection, {"SET", "k", "3"});
  ASSERT_TRUE(written.ok()) << written.error();
  EXPECT_TRUE(written.reply().is_ok());
}

// ---------------------------------------------------------------- TLS

class RedisTlsTest : public RedisConnectionTest {
 protected:
  std::unique_ptr<RedisConnection> connect_tls(const RedisServer& server, const std::string& host,
                                               const std::string& ca_file) {
    auto context = io::TlsClientContext::create({ca_file, true});
    EXPECT_TRUE(context.ok());
    io::RedisEndpoint endpoint;
    endpoint.host = host;
    endpoint.port = server.port();
    endpoint.tls = true;
    endpoint.password = SecretString(kPassword);
    auto connection =
        std::make_unique<RedisConnection>(loop_, std::move(endpoint), std::move(context).value());
    connection->set_state_listener([this](bool up, const std::string& reason) {
      transitions_.push_back(up ? "up" : "down: " + reason);
    });
    return connection;
  }
};

TEST_F(RedisTlsTest, VerifiesTheCertificateAndItsName) {
  RedisServer server({.password = kPassword, .tls = true});
  server.start();
  for (const char* host : {"127.0.0.1", "localhost"}) {
    auto connection = connect_tls(server, host, server.ca_file());
    Answer answer = run(*connection, {"SET", "k", host});
    ASSERT_TRUE(answer.ok()) << host << ": " << answer.error();
    EXPECT_TRUE(answer.reply().is_ok());
  }
}

TEST_F(RedisTlsTest, AnUnknownCaIsRefused) {
  RedisServer server({.password = kPassword, .tls = true});
  server.start();
  auto connection = connect_tls(server, "127.0.0.1", server.untrusted_ca_file());
  Answer answer = run(*connection, {"PING"});
  EXPECT_FALSE(answer.ok());
  ASSERT_FALSE(transitions_.empty());
  EXPECT_NE(transitions_[0].find("certificate verify failed"), std::string::npos) << transitions_[0];
}

TEST_F(RedisTlsTest, TheWrongHostNameIsRefused) {
  RedisServer server({.password = kPassword, .tls = true, .certificate = RedisCertificate::kWrongHost});
  server.start();
  auto connection = connect_tls(server, "127.0.0.1", server.ca_file());
  Answer answer = run(*connection, {"PING"});
  EXPECT_FALSE(answer.ok());
  ASSERT_FALSE(transitions_.empty());
  EXPECT_NE(transitions_[0].find("mismatch"), std::string::npos) << transitions_[0];
}

}  // namespace
}  // namespace popgate::integration
