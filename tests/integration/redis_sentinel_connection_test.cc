// io::RedisConnection with sentinels (redis-sentinel://) against real redis-servers on loopback:
// the master a real redis-sentinel names, past a sentinel that is down; a real failover followed;
// a +switch-master event moving the link at once (from a scripted sentinel, so nothing else could
// have moved it); a replica named during a failover refused by ROLE; an unknown name one reason.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/io/redis_connection.h"
#include "tests/integration/support/redis_sentinel.h"
#include "tests/integration/support/redis_server.h"
#include "tests/unit/gateway/io/fake_sentinel.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::integration {
namespace {

using io::HostPort;
using io::RedisConnection;
using io::RedisReply;
using io::testing::run_for;
using io::testing::run_until;
using popgate::testing::FakeSentinel;
using namespace std::chrono_literals;

constexpr const char* kPassword = "store-pw-3";

HostPort local(uint16_t port) {
  return {"127.0.0.1", port};
}

class RedisSentinelConnectionTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisConnection> connect(std::vector<HostPort> sentinels,
                                           std::string master_name = "popgate") {
    io::RedisEndpoint endpoint;
    endpoint.sentinels = std::move(sentinels);
    endpoint.master_name = std::move(master_name);
    endpoint.password = SecretString(kPassword);
    // The loop has not run while the servers started: its cached clock would make a short
    // timeout expire as soon as it runs.
    uv_update_time(loop_.raw());
    auto connection = std::make_unique<RedisConnection>(
        loop_, std::move(endpoint), nullptr,
        io::RedisOptions{
            .connect_timeout_ms = 500, .reconnect_backoff_min_ms = 50, .reconnect_backoff_max_ms = 200});
    connection->set_state_listener([this, raw = connection.get()](bool up, const std::string& reason) {
      transitions_.push_back(up ? "up at " + raw->server() : "down: " + reason);
    });
    return connection;
  }

  // The command's reply as text ("OK", "v", "ERR ...") or "failed: <reason>".
  std::string run(RedisConnection& connection, std::vector<std::string> args) {
    std::optional<Result<RedisReply>> result;
    connection.command(std::move(args), [&](Result<RedisReply> r) { result = std::move(r); });
    EXPECT_TRUE(run_until(loop_, [&] { return result.has_value(); }));
    if (!result) return "no answer";
    if (!result->ok()) return "failed: " + result->error().detail;
    return result->value().text;
  }

  // A port where nothing listens.
  uint16_t closed_port() {
    auto listener = io::testing::listen_on(loop_, io::testing::loopback_address(), [](io::TransportPtr) {});
    return listener->local_address().port();
  }

  io::Loop loop_;
  std::vector<std::string> transitions_;
};

TEST_F(RedisSentinelConnectionTest, LogsInToTheMasterARealSentinelNamesPastOneThatIsDown) {
  RedisServer master({.password = kPassword});
  master.start();
  RedisSentinel sentinel({.master_port = master.port(), .auth_pass = kPassword});
  sentinel.start();
  auto connection = connect({local(closed_port()), local(sentinel.port())});
  EXPECT_EQ(run(*connection, {"SET", "k", "v"}), "OK");
  EXPECT_EQ(connection->server(), "127.0.0.1:" + std::to_string(master.port()));
  EXPECT_EQ(master.cli({"GET", "k"}), "v");
  EXPECT_EQ(transitions_, std::vector<std::string>{"up at 127.0.0.1:" + std::to_string(master.port())});
}

TEST_F(RedisSentinelConnectionTest, FollowsARealFailoverToThePromotedReplica) {
  RedisServer master({.password = kPassword, .masterauth = kPassword});
  master.start();
  RedisServer replica({.password = kPassword, .replica_of = master.port(), .masterauth = kPassword});
  replica.start();
  ASSERT_TRUE(replica.wait_for_replication(10s)) << replica.log_text();
  RedisSentinel sentinel({.master_port = master.port(), .auth_pass = kPassword});
  sentinel.start();
  ASSERT_TRUE(sentinel.wait_for_replicas(1, 10s)) << sentinel.log_text();
  auto connection = connect({local(sentinel.port())});
  ASSERT_EQ(run(*connection, {"SET", "before", "1"}), "OK");
  // Replication is asynchronous: kill the master only once the replica has the write.
  for (int i = 0; i < 200 && replica.cli({"GET", "before"}) != "1"; ++i) std::this_thread::sleep_for(10ms);

  master.kill();
  const std::string promoted = "127.0.0.1:" + std::to_string(replica.port());
  ASSERT_TRUE(run_until(
      loop_, [&] { return connection->up() && connection->server() == promoted; }, 20'000))
      << "transitions: " << ::testing::PrintToString(transitions_) << "\n"
      << sentinel.log_text();
  EXPECT_EQ(run(*connection, {"SET", "after", "2"}), "OK");
  EXPECT_EQ(replica.cli({"GET", "after"}), "2") << "written to the new master";
  EXPECT_EQ(replica.cli({"GET", "before"}), "1") << "what was replicated before the failover is there";
  EXPECT_EQ(transitions_.back(), "up at " + promoted);
}

TEST_F(RedisSentinelConnectionTest, ASwitchMasterEventMovesAnUpLinkAtOnce) {
  RedisServer first({.password = kPassword});
  first.start();
  RedisServer second({.password = kPassword});
  second.start();
  FakeSentinel sentinel(loop_);
  sentinel.master = local(first.port());
  auto connection = connect({sentinel.address()});
  ASSERT_EQ(run(*connection, {"SET", "k", "first"}), "OK");
  ASSERT_TRUE(run_until(loop_, [&] { return sentinel.subscribed() == 1; }));

  // The first server stays up, a master, and keeps the link: only the event can move it.
  sentinel.switch_master("popgate", local(second.port()));
  const uint64_t began = loop_.now_ms();
  ASSERT_TRUE(run_until(loop_, [&] {
    return connection->up() && connection->server() == "127.0.0.1:" + std::to_string(second.port());
  }));
  EXPECT_LT(loop_.now_ms() - began, 1'000u);
  EXPECT_EQ(run(*connection, {"SET", "k", "second"}), "OK");
  EXPECT_EQ(first.cli({"GET", "k"}), "first");
  EXPECT_EQ(second.cli({"GET", "k"}), "second");
  EXPECT_EQ(sentinel.queries, 2) << "asked again for the new master";

  sentinel.switch_master("another-master", local(first.port()));
  run_for(loop_, 200);
  EXPECT_EQ(connection->server(), "127.0.0.1:" + std::to_string(second.port())) << "not ours: ignored";
}

TEST_F(RedisSentinelConnectionTest, AReplicaNamedDuringAFailoverIsRefusedByRole) {
  RedisServer master({.password = kPassword, .masterauth = kPassword});
  master.start();
  RedisServer replica({.password = kPassword, .replica_of = master.port(), .masterauth = kPassword});
  replica.start();
  FakeSentinel sentinel(loop_);
  sentinel.master = local(replica.port());
  auto connection = connect({sentinel.address()});
  EXPECT_NE(run(*connection, {"SET", "k", "v"}).find("failed"), std::string::npos);
  ASSERT_FALSE(transitions_.empty());
  EXPECT_EQ(transitions_[0], "down: master 127.0.0.1:" + std::to_string(replica.port()) +
                                 ": not a master but a slave (a failover in progress?)");
  // The sentinels catch up: the next attempt finds the master.
  sentinel.master = local(master.port());
  ASSERT_TRUE(run_until(loop_, [&] { return connection->up(); }));
  EXPECT_EQ(run(*connection, {"SET", "k", "v"}), "OK");
  EXPECT_EQ(master.cli({"GET", "k"}), "v");
}

TEST_F(RedisSentinelConnectionTest, AnUnknownMasterNameIsOneReasonAndCommandsFailFast) {
  RedisServer master({.password = kPassword});
  master.start();
  RedisSentinel sentinel({.master_port = master.port(), .auth_pass = kPassword});
  sentinel.start();
  auto connection = connect({local(sentinel.port())}, "not-popgate");
  ASSERT_TRUE(run_until(loop_, [&] { return !transitions_.empty(); }));
  const std::string expected =
      "down: sentinel 127.0.0.1:" + std::to_string(sentinel.port()) + " does not know master 'not-popgate'";
  EXPECT_EQ(transitions_[0], expected);
  run_for(loop_, 500);
  EXPECT_EQ(transitions_.size(), 1u) << "it keeps asking, and tells its listener once";
  const uint64_t before = loop_.now_ms();
  EXPECT_NE(run(*connection, {"PING"}).find("unreachable"), std::string::npos);
  EXPECT_LT(loop_.now_ms() - before, 100u);
}

}  // namespace
}  // namespace popgate::integration
