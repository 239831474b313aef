// --state-store URLs: every accepted shape, the defaults, and every refusal with its reason.
#include "gateway/config/state_store_url.h"

#include <gtest/gtest.h>

#include "gateway/config/config.h"

namespace popgate {
namespace {

std::string refusal(std::string_view text) {
  try {
    parse_state_store_url("state-store", text);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(StateStoreUrl, LocalSharesNothing) {
  StateStoreUrl url = parse_state_store_url("state-store", "local");
  EXPECT_EQ(url.kind, StateStoreKind::Local);
  EXPECT_FALSE(url.shared());
  EXPECT_EQ(url.to_string(), "local");
  EXPECT_FALSE(Config{}.state_store.shared()) << "the default";
}

TEST(StateStoreUrl, RedisWithAndWithoutPortAndDatabase) {
  struct Case {
    const char* text;
    std::string host;
    uint16_t port;
    unsigned database;
    bool tls;
    const char* written;
  };
  for (const Case& c : {
           Case{"redis://redis", "redis", 6379, 0, false, "redis://redis:6379"},
           Case{"redis://10.0.0.7:6380", "10.0.0.7", 6380, 0, false, "redis://10.0.0.7:6380"},
           Case{"redis://redis.popgate.svc:6379/3", "redis.popgate.svc", 6379, 3, false,
                "redis://redis.popgate.svc:6379/3"},
           Case{"rediss://cache.example.com", "cache.example.com", 6379, 0, true,
                "rediss://cache.example.com:6379"},
           Case{"rediss://[::1]:7000/1", "::1", 7000, 1, true, "rediss://[::1]:7000/1"},
           Case{"redis://[fd00::5]", "fd00::5", 6379, 0, false, "redis://[fd00::5]:6379"},
       }) {
    StateStoreUrl url = parse_state_store_url("state-store", c.text);
    EXPECT_EQ(url.kind, StateStoreKind::Redis) << c.text;
    ASSERT_EQ(url.servers.size(), 1u) << c.text;
    EXPECT_EQ(url.servers[0].host, c.host) << c.text;
    EXPECT_EQ(url.servers[0].port, c.port) << c.text;
    EXPECT_EQ(url.database, c.database) << c.text;
    EXPECT_EQ(url.tls, c.tls) << c.text;
    EXPECT_EQ(url.to_string(), c.written) << c.text;
    EXPECT_TRUE(url.shared());
  }
}

TEST(StateStoreUrl, SentinelsAndTheirMaster) {
  StateStoreUrl url =
      parse_state_store_url("state-store", "redis-sentinel://s1:26380,s2,10.0.0.9:5000/mymaster/2");
  EXPECT_EQ(url.kind, StateStoreKind::Sentinel);
  ASSERT_EQ(url.servers.size(), 3u);
  EXPECT_EQ(url.servers[1].host, "s2");
  EXPECT_EQ(url.servers[1].port, 26379);
  EXPECT_EQ(url.master_name, "mymaster");
  EXPECT_EQ(url.database, 2u);
  EXPECT_EQ(url.to_string(), "redis-sentinel://s1:26380,s2:26379,10.0.0.9:5000/mymaster/2");
}

TEST(StateStoreUrl, RefusesWhatItCannotUse) {
  EXPECT_EQ(refusal("memcached://x"),
            "state-store: expected local, redis://HOST[:PORT][/DB], rediss://... or "
            "redis-sentinel://HOST:PORT[,...]/MASTER, got 'memcached://x'");
  EXPECT_EQ(refusal("redis://"), "state-store: expected a host name, got 'redis://'");
  EXPECT_EQ(refusal("redis://h:0"), "state-store: expected HOST[:PORT], got 'redis://h:0'");
  EXPECT_EQ(refusal("redis://h:99999"), "state-store: expected HOST[:PORT], got 'redis://h:99999'");
  EXPECT_EQ(refusal("redis://h/x"),
            "state-store: expected a database number after the host, got 'redis://h/x'");
  EXPECT_EQ(refusal("redis://h?db=1"), "state-store: expected no query or fragment, got 'redis://h?db=1'");
  EXPECT_EQ(refusal("redis-sentinel://s1,s2"),
            "state-store: expected the master's name after the sentinels, got 'redis-sentinel://s1,s2'");
  EXPECT_EQ(refusal("redis-sentinel://s1,,s2/m"),
            "state-store: expected a host name, got 'redis-sentinel://s1,,s2/m'");
}

TEST(StateStoreUrl, CredentialsInTheUrlAreRefusedWithoutBeingRepeated) {
  const std::string error = refusal("redis://popgate:hunter2@redis:6379");
  EXPECT_NE(error.find("credentials do not belong in the URL"), std::string::npos) << error;
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_NE(refusal("rediss://:pw@redis").find("credentials"), std::string::npos);
}

}  // namespace
}  // namespace popgate
