// Every option under its three names (--name, the file's key, POPGATE_NAME): a good value reaches
// its own Config field, and a bad one is refused with the same reason whichever source gave it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/config/config.h"

namespace popgate {
namespace {

enum class Source { CommandLine, File, Environment };
constexpr Source kSources[] = {Source::CommandLine, Source::File, Source::Environment};

class OptionsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& path : paths_) std::remove(path.c_str());
  }

  // Parses `file` over a base file that names an upstream and a certificate pair, then `args`
  // and `environment`.
  Config parse(const nlohmann::json& file, std::vector<std::string> args = {},
               const std::vector<std::string>& environment = {}) {
    nlohmann::json merged = {
        {"upstream", "imap://127.0.0.1"}, {"tls_cert", "/base.pem"}, {"tls_key", "/base.key"}};
    if (!file.is_null()) merged.update(file);
    paths_.push_back(::testing::TempDir() + "popgate-options-" + std::to_string(getpid()) + "-" +
                     std::to_string(paths_.size()) + ".json");
    std::ofstream(paths_.back()) << merged.dump();
    args.insert(args.begin(), {"popgate", "--config", paths_.back()});
    std::vector<const char*> argv;
    for (const auto& arg : args) argv.push_back(arg.c_str());
    Config config;
    std::string out;
    parse_command_line(static_cast<int>(argv.size()), argv.data(), environment, config, out);
    return config;
  }

  // `value` for the option --`name` (file key `key`) from one source.
  Config parse_from(Source source, const std::string& name, const std::string& key,
                    const std::string& value) {
    switch (source) {
      case Source::CommandLine:
        return parse({}, {"--" + name, value});
      case Source::File:
        return parse({{key, value}});
      case Source::Environment:
        return parse({}, {}, {environment_variable_name(name) + "=" + value});
    }
    return {};
  }

  template <typename Parse>
  static std::string error_of(Parse&& parse) {
    try {
      parse();
    } catch (const ConfigError& error) {
      return error.what();
    }
    return "";
  }
  std::string error_from(Source source, const std::string& name, const std::string& key,
                         const std::string& value) {
    return error_of([&] { parse_from(source, name, key, value); });
  }

  // What an error from `source` begins with.
  static std::string origin(Source source, const std::string& name, const std::string& key) {
    switch (source) {
      case Source::CommandLine:
        return name;
      case Source::File:
        return "config: field '" + key + "'";
      case Source::Environment:
        return "environment variable " + environment_variable_name(name);
    }
    return "";
  }

  std::vector<std::string> paths_;
};

struct ValueCase {
  const char* name;
  const char* key;
  const char* good;
  std::function<bool(const Config&)> took;  // the setting holds `good`
  const char* bad;                          // nullptr: any text will do
  const char* reason;                       // after "<origin>: "
};

const std::vector<ValueCase>& value_cases() {
  static const std::vector<ValueCase> cases = {
      {"tls-cert", "tls_cert", "/c.pem", [](const Config& c) { return c.tls_cert == "/c.pem"; }, nullptr, ""},
      {"tls-key", "tls_key", "/k.pem", [](const Config& c) { return c.tls_key == "/k.pem"; }, nullptr, ""},
      {"tls-handshake-timeout", "tls_handshake_timeout", "2.5",
       [](const Config& c) { return c.tls_handshake_timeout_ms == 2500; }, "soon",
       "expected a number of seconds, got 'soon'"},
      {"upstream", "upstream", "imaps://10.0.0.9",
       [](const Config& c) { return c.upstream.to_string() == "imaps://10.0.0.9:993"; }, "pop3://x",
       "scheme must be imap, imaps, jmap or jmaps (got 'pop3://x')"},
      {"upstream-ca", "upstream_ca", "/ca.pem", [](const Config& c) { return c.upstream_ca == "/ca.pem"; },
       nullptr, ""},
      {"mailbox", "mailbox", "Archive", [](const Config& c) { return c.mailbox == "Archive"; }, "",
       "must not be empty"},
      {"delete-mode", "delete_mode", "move:Trash",
       [](const Config& c) { return c.delete_mode == DeleteMode::Move && c.move_target == "Trash"; },
       "move:", "expected expunge, keep, seen or move:MAILBOX, got 'move:'"},
      {"max-age-days", "max_age_days", "30", [](const Config& c) { return c.max_age_days == 30; }, "36501",
       "expected a whole number from 0 to 36500, got '36501'"},
      {"max-messages", "max_messages", "50", [](const Config& c) { return c.max_messages == 50; }, "-1",
       "expected a whole number from 0 to 10000000, got '-1'"},
      {"max-message-size", "max_message_size", "1048576",
       [](const Config& c) { return c.max_message_size == 1'048'576; }, "1e6",
       "expected a whole number from 0 to 1099511627776, got '1e6'"},
      {"idle-timeout", "idle_timeout", "2.5", [](const Config& c) { return c.idle_timeout_ms == 2500; }, "-1",
       "expected a number of seconds, got '-1'"},
      {"auth-failure-delay", "auth_failure_delay", "2.5",
       [](const Config& c) { return c.auth_failure_delay_ms == 2500; }, "1e9",
       "expected a number of seconds, got '1e9'"},
      {"upstream-timeout", "upstream_timeout", "2.5",
       [](const Config& c) { return c.upstream_timeout_ms == 2500; }, "0", "must be greater than 0"},
      {"update-timeout", "update_timeout", "2.5", [](const Config& c) { return c.update_timeout_ms == 2500; },
       "0", "must be greater than 0"},
      {"upstream-reuse-time", "upstream_reuse_time", "2.5",
       [](const Config& c) { return c.upstream_reuse_time_ms == 2500; }, "",
       "expected a number of seconds, got ''"},
      {"upstream-reuse-max", "upstream_reuse_max", "7",
       [](const Config& c) { return c.upstream_reuse_max == 7; }, "0",
       "expected a whole number from 1 to 1000000, got '0'"},
      {"workers", "workers", "7", [](const Config& c) { return c.workers == 7; }, "65",
       "expected a whole number from 0 to 64, got '65'"},
      {"max-sessions", "max_sessions", "7", [](const Config& c) { return c.max_sessions == 7; }, "10000001",
       "expected a whole number from 0 to 10000000, got '10000001'"},
      {"max-sessions-per-ip", "max_sessions_per_ip", "7",
       [](const Config& c) { return c.max_sessions_per_ip == 7; }, "10000001",
       "expected a whole number from 0 to 10000000, got '10000001'"},
      {"max-connection-rate-per-ip", "max_connection_rate_per_ip", "7",
       [](const Config& c) { return c.max_connection_rate_per_ip == 7; }, "1000001",
       "expected a whole number from 0 to 1000000, got '1000001'"},
      {"auth-throttle-window", "auth_throttle_window", "2.5",
       [](const Config& c) { return c.auth_throttle_window_ms == 2500; }, "0", "must be greater than 0"},
      {"auth-throttle-max-failures", "auth_throttle_max_failures", "7",
       [](const Config& c) { return c.auth_throttle_max_failures == 7; }, "-1",
       "expected a whole number from 0 to 1000000, got '-1'"},
      {"auth-throttle-max-failures-per-ip", "auth_throttle_max_failures_per_ip", "7",
       [](const Config& c) { return c.auth_throttle_max_failures_per_ip == 7; }, "1000001",
       "expected a whole number from 0 to 1000000, got '1000001'"},
      {"auth-failure-delay-max", "auth_failure_delay_max", "2.5",
       [](const Config& c) { return c.auth_failure_delay_max_ms == 2500; }, "soon",
       "expected a number of seconds, got 'soon'"},
      {"max-upstream-sessions-per-identity", "max_upstream_sessions_per_identity", "7",
       [](const Config& c) { return c.max_upstream_sessions_per_identity == 7; }, "1000001",
       "expected a whole number from 0 to 1000000, got '1000001'"},
      {"upstream-backoff", "upstream_backoff", "2.5",
       [](const Config& c) { return c.upstream_backoff_ms == 2500; }, "soon",
       "expected a number of seconds, got 'soon'"},
      {"upstream-backoff-max", "upstream_backoff_max", "2.5",
       [](const Config& c) { return c.upstream_backoff_max_ms == 2500; }, "soon",
       "expected a number of seconds, got 'soon'"},
      {"token-dir", "token_dir", "/tokens", [](const Config& c) { return c.token_dir == "/tokens"; }, "",
       "must not be empty"},
      {"max-line-length", "max_line_length", "1000",
       [](const Config& c) { return c.limits.max_command_line == 1000; }, "15",
       "expected a whole number from 16 to 65536, got '15'"},
      {"max-bad-commands", "max_bad_commands", "7",
       [](const Config& c) { return c.limits.max_bad_commands_after_login == 7; }, "1001",
       "expected a whole number from 1 to 1000, got '1001'"},
      {"max-bad-commands-auth", "max_bad_commands_auth", "7",
       [](const Config& c) { return c.limits.max_bad_commands_before_login == 7; }, "0",
       "expected a whole number from 1 to 1000, got '0'"},
      {"log-level", "log_level", "debug", [](const Config& c) { return c.log_level == log::Level::Debug; },
       "loud", "expected debug, info, warn or error, got 'loud'"},
      {"log-format", "log_format", "text", [](const Config& c) { return c.log_format == log::Format::Text; },
       "xml", "expected json or text, got 'xml'"},
      {"drain-timeout", "drain_timeout", "2.5", [](const Config& c) { return c.drain_timeout_ms == 2500; },
       "soon", "expected a number of seconds, got 'soon'"},
      {"admin", "admin", "[::1]:9200",
       [](const Config& c) { return c.admin.host == "::1" && c.admin.port == 9200; }, "localhost:9110",
       "expected a numeric ADDRESS:PORT such as 127.0.0.1:9110, got 'localhost:9110'"},
      {"accounts", "accounts_file", "/accounts.json",
       [](const Config& c) { return c.accounts_file == "/accounts.json"; }, nullptr, ""},
      {"auth-mode", "auth_mode", "passthrough",
       [](const Config& c) { return c.auth_mode == AuthMode::Passthrough; }, "open",
       "expected passthrough or local-accounts, got 'open'"},
      {"readiness-probe-interval", "readiness_probe_interval", "2.5",
       [](const Config& c) { return c.readiness_probe_interval_ms == 2500; }, "0", "must be greater than 0"},
      {"state-store", "state_store", "redis://10.0.0.7:6380/2",
       [](const Config& c) { return c.state_store.to_string() == "redis://10.0.0.7:6380/2"; },
       "memcached://x",
       "expected local, redis://HOST[:PORT][/DB], rediss://... or redis-sentinel://HOST:PORT[,...]/MASTER, "
       "got "
       "'memcached://x'"},
      {"state-store-ca", "state_store_ca", "/ca.pem",
       [](const Config& c) { return c.state_store_ca == "/ca.pem"; }, nullptr, ""},
      {"state-store-user", "state_store_user", "popgate",
       [](const Config& c) { return c.state_store_user == "popgate"; }, nullptr, ""},
      {"state-store-password-file", "state_store_password_file", "/run/secrets/redis",
       [](const Config& c) { return c.state_store_password_file == "/run/secrets/redis"; }, nullptr, ""},
      {"state-store-password-env", "state_store_password_env", "REDIS_PASSWORD",
       [](const Config& c) { return c.state_store_password_env == "REDIS_PASSWORD"; }, nullptr, ""},
      {"state-store-key-file", "state_store_key_file", "/run/secrets/token-key",
       [](const Config& c) { return c.state_store_key_file == "/run/secrets/token-key"; }, nullptr, ""},
      {"state-store-prefix", "state_store_prefix",
       "pg-eu:", [](const Config& c) { return c.state_store_prefix == "pg-eu:"; }, nullptr, ""},
      {"state-store-connect-timeout", "state_store_connect_timeout", "0.5",
       [](const Config& c) { return c.state_store_connect_timeout_ms == 500; }, "0",
       "must be greater than 0"},
      {"state-store-timeout", "state_store_timeout", "0.25",
       [](const Config& c) { return c.state_store_timeout_ms == 250; }, "0", "must be greater than 0"},
      {"state-store-failure", "state_store_failure", "closed",
       [](const Config& c) { return c.state_store_failure == StateStoreFailure::Closed; }, "ajar",
       "expected open or closed, got 'ajar'"},
      {"maildrop-lease", "maildrop_lease", "12",
       [](const Config& c) { return c.maildrop_lease_ms == 12'000; }, "0", "must be greater than 0"},
  };
  return cases;
}

TEST_F(OptionsTest, AValueFromAnySourceReachesItsOwnSetting) {
  for (const auto& option : value_cases()) {
    EXPECT_FALSE(option.took(parse({}))) << option.name << ": the test value must not be the default";
    for (Source source : kSources) {
      EXPECT_TRUE(option.took(parse_from(source, option.name, option.key, option.good)))
          << option.name << " from source " << static_cast<int>(source);
    }
  }
}

TEST_F(OptionsTest, ABadValueIsRefusedForTheSameReasonFromAnySource) {
  for (const auto& option : value_cases()) {
    if (!option.bad) continue;
    for (Source source : kSources) {
      EXPECT_EQ(error_from(source, option.name, option.key, option.bad),
                origin(source, option.name, option.key) + ": " + option.reason);
    }
  }
}

TEST_F(OptionsTest, ZeroSecondsTurnsOffWhatMayBeTurnedOff) {
  for (const char* name :
       {"idle-timeout", "auth-failure-delay", "upstream-reuse-time", "auth-failure-delay-max",
        "upstream-backoff", "upstream-backoff-max", "drain-timeout"}) {
    EXPECT_EQ(error_from(Source::CommandLine, name, "", "0"), "") << name;
  }
}

struct FlagCase {
  const char* name;
  const char* key;
  bool Config::*setting;
  bool turns_off;  // --no-...: the flag turns its setting off
};

constexpr FlagCase kFlags[] = {
    {"upstream-insecure", "upstream_insecure", &Config::upstream_insecure, false},
    {"mark-seen", "mark_seen", &Config::mark_seen, false},
    {"only-unseen", "only_unseen", &Config::only_unseen, false},
    {"allow-core-dumps", "allow_core_dumps", &Config::allow_core_dumps, false},
    {"no-maildrop-lock", "maildrop_lock", &Config::maildrop_lock, true},
    {"allow-plaintext-auth", "allow_plaintext_auth", &Config::allow_plaintext_auth, false},
    {"no-admin", "admin_enabled", &Config::admin_enabled, true},
};

TEST_F(OptionsTest, FlagsFromAnySource) {
  for (const auto& flag : kFlags) {
    const std::string name = flag.name;
    const std::string variable = environment_variable_name(name);
    EXPECT_EQ(parse({}).*flag.setting, flag.turns_off) << name << ": the default";
    EXPECT_EQ(parse({}, {"--" + name}).*flag.setting, !flag.turns_off) << name;
    EXPECT_EQ(parse({}, {}, {variable + "=true"}).*flag.setting, !flag.turns_off) << name;
    EXPECT_EQ(parse({}, {"--" + name}, {variable + "=false"}).*flag.setting, flag.turns_off) << name;
    // The file's key names the setting itself, not the flag.
    EXPECT_TRUE(parse({{flag.key, true}}).*flag.setting) << name;
    EXPECT_FALSE(parse({{flag.key, false}}).*flag.setting) << name;

    EXPECT_EQ(error_of([&] { parse({}, {"--" + name + "=yes"}); }), "--" + name + " takes no value");
    EXPECT_EQ(error_from(Source::Environment, name, "", "yes"),
              "environment variable " + variable + ": expected true or false, got 'yes'");
    EXPECT_EQ(error_from(Source::File, name, flag.key, "true"),
              std::string("config: field '") + flag.key + "' must be true or false");
  }
}

TEST_F(OptionsTest, ListenerListsFromAnySource) {
  for (const std::string key : {"listen", "listen_tls"}) {
    const std::string name = key == "listen" ? "listen" : "listen-tls";
    auto list = [&](const Config& c) { return key == "listen" ? c.listen : c.listen_tls; };
    const Config cli = parse({{key, nlohmann::json::array({"127.0.0.1:1"})}},
                             {"--" + name, "127.0.0.1:2", "--" + name, "[::1]:3"});
    ASSERT_EQ(list(cli).size(), 2u) << name << ": the command line's list replaces the file's";
    EXPECT_EQ(list(cli)[1].host, "::1");
    EXPECT_EQ(list(cli)[1].port, 3);
    const Config file = parse({{key, nlohmann::json::array({"127.0.0.1:1", "127.0.0.1:2"})}});
    EXPECT_EQ(list(file).size(), 2u) << name;
    const Config environment = parse({}, {"--" + name, "127.0.0.1:2"},
                                     {environment_variable_name(name) + "=127.0.0.1:4, 127.0.0.1:5"});
    ASSERT_EQ(list(environment).size(), 2u) << name << ": the environment's list replaces the command line's";
    EXPECT_EQ(list(environment)[0].port, 4);

    const std::string reason = ": expected a numeric ADDRESS:PORT such as 127.0.0.1:110, got 'localhost:1'";
    EXPECT_EQ(error_from(Source::Environment, name, key, "127.0.0.1:4,localhost:1"),
              "environment variable " + environment_variable_name(name) + reason);
    EXPECT_EQ(error_of([&] {
                parse({{key, nlohmann::json::array({"127.0.0.1:1", "localhost:1"})}});
              }),
              "config: field '" + key + "[1]'" + reason);
    // Both lists have always called themselves "listen" in command-line errors.
    EXPECT_EQ(error_from(Source::CommandLine, name, key, "localhost:1"), "listen" + reason);
  }
}

TEST_F(OptionsTest, HelpListsEveryOptionOnce) {
  std::vector<std::string> names = {"config", "check-config", "help", "version"};
  for (const auto& option : value_cases()) names.push_back(option.name);
  for (const auto& flag : kFlags) names.push_back(flag.name);
  names.insert(names.end(), {"listen", "listen-tls"});
  const std::string help = usage();
  for (const auto& name : names) {
    EXPECT_NE(help.find("\n  --" + name + " "), std::string::npos) << name;
  }
  std::istringstream lines(help);
  size_t options = 0;
  for (std::string line; std::getline(lines, line);) options += line.starts_with("  --");
  EXPECT_EQ(options, names.size()) << help;
}

}  // namespace
}  // namespace popgate
