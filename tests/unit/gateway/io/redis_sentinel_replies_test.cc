// Sentinel replies: the master's address, ROLE and +switch-master, from real RESP bytes (fed
// through the reply reader), and what must not be taken for them.
#include "gateway/io/redis_sentinel_replies.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "gateway/io/redis_reply_reader.h"

namespace popgate::io {
namespace {

RedisReply read(std::string_view wire) {
  RedisReplyReader reader;
  reader.feed(wire);
  std::optional<RedisReply> reply = reader.next();
  EXPECT_TRUE(reply.has_value()) << wire;
  return reply.value_or(RedisReply{});
}

std::string address(std::string_view wire) {
  Result<std::optional<HostPort>> parsed = parse_master_address(read(wire));
  if (!parsed) return "error: " + parsed.error().detail;
  if (!parsed.value()) return "unknown";
  return to_string(*parsed.value());
}

TEST(SentinelMasterAddress, HostAndPort) {
  EXPECT_EQ(address("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"), "127.0.0.1:6380");
  EXPECT_EQ(address("*2\r\n$3\r\n::1\r\n$4\r\n6379\r\n"), "[::1]:6379");
  EXPECT_EQ(address("*2\r\n$16\r\nredis-0.internal\r\n$4\r\n6379\r\n"), "redis-0.internal:6379");
}

TEST(SentinelMasterAddress, NilIsAnUnknownName) {
  EXPECT_EQ(address("*-1\r\n"), "unknown");
  EXPECT_EQ(address("$-1\r\n"), "unknown");
}

TEST(SentinelMasterAddress, AnErrorReplyIsTemporaryWithItsText) {
  Result<std::optional<HostPort>> parsed = parse_master_address(read("-NOAUTH Authentication required.\r\n"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().kind, ErrorKind::Temporary);
  EXPECT_EQ(parsed.error().detail, "NOAUTH Authentication required.");
  const std::string long_error = "-ERR " + std::string(1000, 'x') + "\r\n";
  EXPECT_LE(parse_master_address(read(long_error)).error().detail.size(), 200u) << "cut for the log";
}

TEST(SentinelMasterAddress, AnythingElseIsAProtocolError) {
  for (std::string_view wire : {
           "+OK\r\n", ":6379\r\n",
           "*1\r\n$9\r\n127.0.0.1\r\n",                   // no port
           "*3\r\n$1\r\na\r\n$4\r\n6379\r\n$1\r\nx\r\n",  // one too many
           "*2\r\n$9\r\n127.0.0.1\r\n$5\r\n65536\r\n",    // not a port
           "*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n",        // not one to connect to
           "*2\r\n$9\r\n127.0.0.1\r\n$3\r\n-80\r\n",      // signs are not digits
           "*2\r\n$0\r\n\r\n$4\r\n6379\r\n",              // no host
           "*2\r\n$8\r\nbad host\r\n$4\r\n6379\r\n",      // a space in a host
           "*2\r\n:1\r\n$4\r\n6379\r\n",                  // not a string
           "*2\r\n*1\r\n$1\r\na\r\n$4\r\n6379\r\n",       // nested
       }) {
    EXPECT_EQ(address(wire), "error: not a master address (host and port)") << wire;
  }
}

TEST(SentinelRole, TheFirstElement) {
  // ROLE on a master: role, replication offset, replicas.
  Result<std::string> master = parse_role(read(
      "*3\r\n$6\r\nmaster\r\n:3129659\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$7\r\n3129242\r\n"));
  ASSERT_TRUE(master.ok());
  EXPECT_EQ(master.value(), "master");
  Result<std::string> replica =
      parse_role(read("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$9\r\nconnected\r\n:3167038\r\n"));
  ASSERT_TRUE(replica.ok());
  EXPECT_EQ(replica.value(), "slave");
}

TEST(SentinelRole, NotARoleReply) {
  for (std::string_view wire : {"+PONG\r\n", "*0\r\n", "*1\r\n:1\r\n", "$6\r\nmaster\r\n"}) {
    Result<std::string> role = parse_role(read(wire));
    ASSERT_FALSE(role.ok()) << wire;
    EXPECT_EQ(role.error().kind, ErrorKind::Protocol);
  }
}

constexpr std::string_view kSubscribed = "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n";

std::string message(std::string_view payload) {
  return "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$" + std::to_string(payload.size()) + "\r\n" +
         std::string(payload) + "\r\n";
}

TEST(SentinelSwitchMaster, TheSubscriptionIsConfirmed) {
  EXPECT_TRUE(is_switch_master_subscription(read(kSubscribed)));
  EXPECT_FALSE(is_switch_master_subscription(read("-NOAUTH Authentication required.\r\n")));
  EXPECT_FALSE(is_switch_master_subscription(read("*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:1\r\n")));
  EXPECT_FALSE(is_switch_master_subscription(read(message("popgate 127.0.0.1 6379 127.0.0.1 6380"))));
}

TEST(SentinelSwitchMaster, OurMastersNewAddress) {
  std::optional<HostPort> moved =
      parse_switch_master(read(message("popgate 127.0.0.1 6379 127.0.0.1 6380")), "popgate");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(to_string(*moved), "127.0.0.1:6380");
}

TEST(SentinelSwitchMaster, NotOursOrNotAMessage) {
  EXPECT_FALSE(parse_switch_master(read(message("other 127.0.0.1 6379 127.0.0.1 6380")), "popgate"));
  EXPECT_FALSE(parse_switch_master(read(message("popgatex 127.0.0.1 6379 127.0.0.1 6380")), "popgate"));
  EXPECT_FALSE(parse_switch_master(read(message("popgate 127.0.0.1 6379 127.0.0.1")), "popgate"));
  EXPECT_FALSE(parse_switch_master(read(message("popgate 127.0.0.1 6379 127.0.0.1 notaport")), "popgate"));
  EXPECT_FALSE(parse_switch_master(read(kSubscribed), "popgate"));
  EXPECT_FALSE(parse_switch_master(read("*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n$3\r\nabc\r\n"), "popgate"));
  EXPECT_FALSE(parse_switch_master(read("+OK\r\n"), "popgate"));
}

}  // namespace
}  // namespace popgate::io
