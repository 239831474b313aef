// The Redis fixtures on their own, without popgate: each configuration and fault the shared-state
// tests rely on does what they expect of it.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/redis_sentinel.h"
#include "tests/integration/support/redis_server.h"

namespace popgate::integration {
namespace {

constexpr const char* kPassword = "s3cret-redis";

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

// What redis-cli makes of the server, or the failure it threw with.
std::string cli_outcome(RedisServer& server, const RedisCredentials& who, std::vector<std::string> args) {
  try {
    return server.cli_as(who, std::move(args));
  } catch (const std::runtime_error& e) {
    return std::string("failed: ") + e.what();
  }
}

// Bytes the socket delivers within `timeout`; "" if none came.
std::string read_within(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return "";
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST(RedisFixture, PasswordServerAnswersOnlyWithThePassword) {
  RedisServer server({.password = kPassword});
  server.start();
  EXPECT_EQ(server.cli({"PING"}), "PONG");
  EXPECT_TRUE(starts_with(server.cli_as({}, {"PING"}), "NOAUTH")) << server.cli_as({}, {"PING"});
  EXPECT_TRUE(starts_with(server.cli_as({"", "wrong"}, {"PING"}), "NOAUTH"));
}

TEST(RedisFixture, AclUserIsConfinedToItsKeyPattern) {
  // With requirepass too, so a failed AUTH does not leave the connection as a default user
  // without a password.
  RedisServer server(
      {.password = kPassword,
       .acl_user = RedisAclUser{.name = "popgate", .password = "acl-pw", .key_pattern = "~popgate:*"}});
  server.start();
  const RedisCredentials user = server.acl_credentials();
  EXPECT_EQ(server.cli_as(user, {"SET", "popgate:lock", "1"}), "OK");
  EXPECT_EQ(server.cli_as(user, {"GET", "popgate:lock"}), "1");
  EXPECT_TRUE(starts_with(server.cli_as(user, {"SET", "other:lock", "1"}), "NOPERM"));
  const std::string wrong = cli_outcome(server, {"popgate", "wrong"}, {"GET", "popgate:lock"});
  EXPECT_TRUE(starts_with(wrong, "NOAUTH")) << wrong;
}

TEST(RedisFixture, TlsServerAnswersOverTlsOnly) {
  RedisServer server({.password = kPassword, .tls = true});
  server.start();
  EXPECT_EQ(server.cli({"PING"}), "PONG");
  // Plain text on the TLS port gets no PONG.
  RedisEndpoint plain{server.port(), {}, {"", kPassword}};
  std::string answer;
  try {
    answer = run_redis_cli(plain, {"PING"});
  } catch (const std::runtime_error& e) {
    answer = e.what();
  }
  EXPECT_NE(answer, "PONG");
}

TEST(RedisFixture, TlsServerWithAnUnknownCaIsRefusedByItsClients) {
  RedisServer server({.tls = true, .certificate = RedisCertificate::kUnknownCa});
  server.start();  // readiness trusts ca_file(), so first check the server is up with the right CA
  EXPECT_TRUE(starts_with(cli_outcome(server, {}, {"PING"}), "failed: "))
      << cli_outcome(server, {}, {"PING"});
  RedisEndpoint other{server.port(), server.untrusted_ca_file(), {}};
  EXPECT_EQ(run_redis_cli(other, {"PING"}), "PONG");
}

TEST(RedisFixture, RestartComesBackEmptyOnTheSamePort) {
  RedisServer server({.password = kPassword});
  server.start();
  const uint16_t port = server.port();
  EXPECT_EQ(server.cli({"SET", "popgate:token", "t"}), "OK");
  EXPECT_EQ(server.cli({"DBSIZE"}), "1");
  server.restart();
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(server.cli({"DBSIZE"}), "0");
  EXPECT_EQ(server.cli({"GET", "popgate:token"}), "");
}

TEST(RedisFixture, KilledServerIsGone) {
  RedisServer server;
  server.start();
  server.kill();
  EXPECT_FALSE(server.running());
  // A crash, not a shutdown: Redis logs the SIGTERM it is stopped with, but never sees a SIGKILL.
  EXPECT_EQ(server.log_text().find("SIGTERM"), std::string::npos) << server.log_text();
  EXPECT_TRUE(starts_with(cli_outcome(server, {}, {"PING"}), "failed: "));
}

TEST(RedisFixture, PausedServerStallsAndAnswersOnResume) {
  RedisServer server;
  server.start();
  const int fd = connect_loopback(server.port());
  ASSERT_EQ(::write(fd, "PING\r\n", 6), 6);
  EXPECT_EQ(read_within(fd, std::chrono::seconds(5)), "+PONG\r\n");
  server.pause();
  ASSERT_EQ(::write(fd, "PING\r\n", 6), 6);
  EXPECT_EQ(read_within(fd, std::chrono::milliseconds(300)), "");
  server.resume();
  EXPECT_EQ(read_within(fd, std::chrono::seconds(5)), "+PONG\r\n");
  ::close(fd);
}

TEST(RedisFixture, SentinelFailsOverToTheReplicaWhenTheMasterIsKilled) {
  RedisServer master({.password = kPassword, .masterauth = kPassword});
  master.start();
  RedisServer replica({.password = kPassword, .replica_of = master.port(), .masterauth = kPassword});
  replica.start();
  ASSERT_TRUE(replica.wait_for_replication(std::chrono::seconds(10))) << replica.log_text();

  RedisSentinel sentinel({.master_port = master.port(), .auth_pass = kPassword});
  sentinel.start();
  EXPECT_EQ(sentinel.master_address(), "127.0.0.1:" + std::to_string(master.port()));
  ASSERT_TRUE(sentinel.wait_for_replicas(1, std::chrono::seconds(10))) << sentinel.log_text();

  const auto killed = std::chrono::steady_clock::now();
  master.kill();
  ASSERT_TRUE(sentinel.wait_for_master(replica.port(), std::chrono::seconds(15))) << sentinel.log_text();
  std::cout << "failover took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                     killed)
                   .count()
            << " ms\n";
  EXPECT_TRUE(starts_with(replica.cli({"ROLE"}), "master")) << replica.cli({"ROLE"});
}

}  // namespace
}  // namespace popgate::integration
