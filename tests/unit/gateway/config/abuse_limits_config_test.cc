// The abuse-limit options: defaults, the command line, the environment, and what is refused.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/config/config.h"

namespace popgate {
namespace {

Config parse(std::vector<const char*> args, const std::vector<std::string>& environment = {}) {
  args.insert(args.begin(), "popgate");
  args.insert(args.end(), {"--upstream", "imap://127.0.0.1:143"});
  Config config;
  std::string out;
  parse_command_line(static_cast<int>(args.size()), args.data(), environment, config, out);
  return config;
}

TEST(AbuseLimitsConfig, Defaults) {
  const Config c = parse({});
  EXPECT_EQ(c.max_sessions, 10'000u);
  EXPECT_EQ(c.max_sessions_per_ip, 256u);
  EXPECT_EQ(c.max_connection_rate_per_ip, 0u);
  EXPECT_EQ(c.auth_throttle_window_ms, 300'000u);
  EXPECT_EQ(c.auth_throttle_max_failures, 10u);
  EXPECT_EQ(c.auth_throttle_max_failures_per_ip, 100u);
  EXPECT_EQ(c.auth_failure_delay_max_ms, 30'000u);
  EXPECT_EQ(c.update_timeout_ms, 120'000u);
  EXPECT_FALSE(c.allow_core_dumps);
}

TEST(AbuseLimitsConfig, CommandLine) {
  const Config c = parse({"--max-sessions", "0", "--max-sessions-per-ip", "3", "--max-connection-rate-per-ip",
                          "5", "--auth-throttle-window", "60", "--auth-throttle-max-failures", "4",
                          "--auth-throttle-max-failures-per-ip", "0", "--auth-failure-delay-max", "1.5",
                          "--update-timeout", "2.5", "--allow-core-dumps"});
  EXPECT_EQ(c.max_sessions, 0u);
  EXPECT_EQ(c.max_sessions_per_ip, 3u);
  EXPECT_EQ(c.max_connection_rate_per_ip, 5u);
  EXPECT_EQ(c.auth_throttle_window_ms, 60'000u);
  EXPECT_EQ(c.auth_throttle_max_failures, 4u);
  EXPECT_EQ(c.auth_throttle_max_failures_per_ip, 0u);
  EXPECT_EQ(c.auth_failure_delay_max_ms, 1'500u);
  EXPECT_EQ(c.update_timeout_ms, 2'500u);
  EXPECT_TRUE(c.allow_core_dumps);
}

TEST(AbuseLimitsConfig, Environment) {
  const Config c = parse({"--max-sessions-per-ip", "3"},
                         {"POPGATE_MAX_SESSIONS_PER_IP=7", "POPGATE_ALLOW_CORE_DUMPS=true"});
  EXPECT_EQ(c.max_sessions_per_ip, 7u);
  EXPECT_TRUE(c.allow_core_dumps);
}

TEST(AbuseLimitsConfig, NonsenseIsRefused) {
  EXPECT_THROW(parse({"--max-sessions", "-1"}), ConfigError);
  EXPECT_THROW(parse({"--max-sessions-per-ip", "many"}), ConfigError);
  EXPECT_THROW(parse({"--update-timeout", "0"}), ConfigError);
  EXPECT_THROW(parse({"--auth-throttle-window", "0"}), ConfigError);
}

TEST(AbuseLimitsConfig, HelpNamesEveryOption) {
  const std::string help = usage();
  for (const char* option :
       {"--max-sessions ", "--max-sessions-per-ip", "--max-connection-rate-per-ip", "--auth-throttle-window",
        "--auth-throttle-max-failures ", "--auth-throttle-max-failures-per-ip", "--auth-failure-delay-max",
        "--update-timeout", "--allow-core-dumps"}) {
    EXPECT_NE(help.find(option), std::string::npos) << option;
  }
}

}  // namespace
}  // namespace popgate
