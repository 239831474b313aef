// Command-line and config-file parsing: values, defaults, precedence and clear errors.
#include "gateway/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace popgate {
namespace {

struct Parsed {
  Config config;
  CommandLineOutcome outcome;
  std::string out;
};

Parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "popgate");
  Parsed parsed;
  parsed.outcome = parse_command_line(static_cast<int>(args.size()), args.data(), parsed.config, parsed.out);
  return parsed;
}

std::string error_of(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(ConfigTest, IssueExampleCommandLine) {
  auto parsed = parse({"--listen", "127.0.0.1:1110", "--upstream", "imap://127.0.0.1:143", "--mailbox",
                       "Archive", "--delete-mode", "move:Trash", "--mark-seen", "--idle-timeout", "30"});
  const Config& c = parsed.config;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.listen[0].port, 1110);
  EXPECT_EQ(c.upstream.host, "127.0.0.1");
  EXPECT_EQ(c.upstream.port, 143);
  EXPECT_EQ(c.mailbox, "Archive");
  EXPECT_EQ(c.delete_mode, DeleteMode::Move);
  EXPECT_EQ(c.move_target, "Trash");
  EXPECT_TRUE(c.mark_seen);
  EXPECT_EQ(c.idle_timeout_ms, 30'000u);
}

TEST(ConfigTest, Defaults) {
  const Config c = parse({"--upstream", "imap://mail.example.com"}).config;
  EXPECT_EQ(c.upstream.port, 143);
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].port, 110);
  EXPECT_EQ(c.mailbox, "INBOX");
  EXPECT_EQ(c.delete_mode, DeleteMode::Expunge);
  EXPECT_FALSE(c.mark_seen);
  EXPECT_EQ(c.idle_timeout_ms, 600'000u);
  EXPECT_TRUE(c.maildrop_lock);
  EXPECT_FALSE(c.allow_plaintext_auth);
  EXPECT_EQ(c.limits.max_command_line, 512u);
}

TEST(ConfigTest, ListenRepeatsAndAcceptsIpv6) {
  const Config c =
      parse({"--upstream", "imap://[::1]:1143", "--listen", "127.0.0.1:1", "--listen=[::1]:2"}).config;
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[1].host, "::1");
  EXPECT_EQ(c.upstream.host, "::1");
  EXPECT_EQ(c.upstream.port, 1143);
}

TEST(ConfigTest, HelpAndVersionExitSuccessfully) {
  auto help = parse({"--help"});
  EXPECT_EQ(help.outcome, CommandLineOutcome::ExitSuccess);
  EXPECT_NE(help.out.find("--delete-mode"), std::string::npos);
  auto version = parse({"--version"});
  EXPECT_EQ(version.outcome, CommandLineOutcome::ExitSuccess);
  EXPECT_TRUE(version.out.starts_with("popgate "));
}

TEST(ConfigTest, ErrorsNameTheProblem) {
  EXPECT_NE(error_of({}).find("--upstream is required"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "pop3://x"}).find("scheme"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x?tls=maybe"}).find("tls=none"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imaps://x?tls=none"}).find("contradicts"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--tls-cert", "c.pem"}).find("go together"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--listen-tls", "127.0.0.1:995"}).find("needs --tls-cert"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x:99999"}).find("port"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--bogus"}).find("unknown option '--bogus'"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--idle-timeout", "soon"}).find("idle-timeout"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--idle-timeout"}).find("needs a value"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--delete-mode", "shred"}).find("delete-mode"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--listen", "localhost:110"}).find("numeric"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--max-line-length", "3"}).find("max-line-length"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--mark-seen=yes"}).find("takes no value"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "stray"}).find("unexpected argument"), std::string::npos);
}

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& json) {
    // ctest runs test processes side by side: the pid keeps their files apart.
    path_ = ::testing::TempDir() + "popgate-config-" + std::to_string(getpid()) + "-" +
            std::to_string(counter_++) + ".json";
    std::ofstream(path_) << json;
    return path_;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
  int counter_ = 0;
};

TEST_F(ConfigFileTest, FileSetsValuesAndCommandLineWins) {
  std::string file = write(R"({"upstream": "imap://10.0.0.1:993", "listen": ["127.0.0.1:1110"],
                               "idle_timeout": 45, "mark_seen": true, "maildrop_lock": false,
                               "delete_mode": "keep"})");
  const Config c = parse({"--config", file.c_str(), "--idle-timeout", "5"}).config;
  EXPECT_EQ(c.upstream.host, "10.0.0.1");
  EXPECT_EQ(c.listen.at(0).port, 1110);
  EXPECT_EQ(c.idle_timeout_ms, 5'000u);
  EXPECT_TRUE(c.mark_seen);
  EXPECT_FALSE(c.maildrop_lock);
  EXPECT_EQ(c.delete_mode, DeleteMode::Keep);
}

TEST_F(ConfigFileTest, UnknownFieldsAndWrongTypesAreErrorsNamingTheField) {
  std::string unknown = write(R"({"upstream": "imap://x", "idle_timout": 5})");
  EXPECT_NE(error_of({"--config", unknown.c_str()}).find("unknown field 'idle_timout'"), std::string::npos);
  std::string wrong = write(R"({"upstream": "imap://x", "mark_seen": "yes"})");
  EXPECT_NE(error_of({"--config", wrong.c_str()}).find("'mark_seen'"), std::string::npos);
  std::string list = write(R"({"upstream": "imap://x", "listen": ["127.0.0.1:1", 7]})");
  EXPECT_NE(error_of({"--config", list.c_str()}).find("'listen[1]'"), std::string::npos);
  std::string broken = write("{ not json");
  EXPECT_NE(error_of({"--config", broken.c_str()}).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of({"--config", "/nonexistent/popgate.json"}).find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace popgate

namespace popgate {
namespace {

TEST(ConfigTest, TlsOptions) {
  const Config c =
      parse({"--upstream", "imaps://mail.example.com", "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
             "--listen-tls", "127.0.0.1:995", "--listen-tls", "[::1]:995", "--upstream-ca", "/ca.pem",
             "--upstream-insecure", "--tls-handshake-timeout", "2.5"})
          .config;
  EXPECT_EQ(c.upstream.scheme, "imaps");
  EXPECT_EQ(c.upstream.port, 993);
  EXPECT_EQ(c.listen_tls.size(), 2u);
  EXPECT_TRUE(c.listen.empty()) << "only TLS listeners were asked for";
  EXPECT_EQ(c.tls_cert, "/c.pem");
  EXPECT_EQ(c.upstream_ca, "/ca.pem");
  EXPECT_TRUE(c.upstream_insecure);
  EXPECT_EQ(c.tls_handshake_timeout_ms, 2500u);
  const Config plain = parse({"--upstream", "imap://10.1.2.3?tls=none"}).config;
  EXPECT_TRUE(plain.upstream.tls_none);
  EXPECT_EQ(plain.upstream.port, 143);
  EXPECT_EQ(plain.upstream.to_string(), "imap://10.1.2.3:143?tls=none");
}

}  // namespace
}  // namespace popgate

namespace popgate {
namespace {

TEST(ConfigTest, JmapUrls) {
  const Config plain = parse({"--upstream", "jmap://127.0.0.1:8008"}).config;
  EXPECT_TRUE(plain.upstream.is_jmap());
  EXPECT_EQ(plain.upstream.port, 8008);
  EXPECT_EQ(plain.upstream.path, "/.well-known/jmap");
  const Config secure = parse({"--upstream", "jmaps://mail.example.com/jmap/session"}).config;
  EXPECT_EQ(secure.upstream.port, 443);
  EXPECT_EQ(secure.upstream.path, "/jmap/session");
  EXPECT_EQ(secure.upstream.to_string(), "jmaps://mail.example.com:443/jmap/session");
  EXPECT_NE(error_of({"--upstream", "imap://x/INBOX"}).find("no path"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "jmap://x?tls=none"}).find("tls=none"), std::string::npos);
}

}  // namespace
}  // namespace popgate

namespace popgate {
namespace {

TEST(ConfigTest, AdminEndpointDefaultsAndOptions) {
  const Config defaults = parse({"--upstream", "imap://x"}).config;
  EXPECT_TRUE(defaults.admin_enabled);
  EXPECT_EQ(defaults.admin.host, "127.0.0.1");
  EXPECT_EQ(defaults.admin.port, 9110);
  EXPECT_EQ(defaults.readiness_probe_interval_ms, 10'000u);

  const Config set =
      parse({"--upstream", "imap://x", "--admin", "[::1]:0", "--readiness-probe-interval", "0.2"}).config;
  EXPECT_EQ(set.admin.host, "::1");
  EXPECT_EQ(set.admin.port, 0);
  EXPECT_EQ(set.readiness_probe_interval_ms, 200u);
  EXPECT_FALSE(parse({"--upstream", "imap://x", "--no-admin"}).config.admin_enabled);

  EXPECT_NE(
      error_of({"--upstream", "imap://x", "--admin", "localhost:9110"}).find("admin: expected a numeric"),
      std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--admin", "127.0.0.1"}).find("admin"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--no-admin=yes"}).find("takes no value"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--readiness-probe-interval", "0"}).find("greater than 0"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--readiness-probe-interval", "soon"})
                .find("readiness-probe-interval"),
            std::string::npos);
  EXPECT_NE(usage().find("--no-admin"), std::string::npos);
}

TEST_F(ConfigFileTest, AdminEndpointFromTheFileAndTheCommandLineWins) {
  std::string file = write(R"({"upstream": "imap://x", "admin": "127.0.0.1:9200", "admin_enabled": false,
                               "readiness_probe_interval": 3})");
  const Config from_file = parse({"--config", file.c_str()}).config;
  EXPECT_EQ(from_file.admin.port, 9200);
  EXPECT_FALSE(from_file.admin_enabled);
  EXPECT_EQ(from_file.readiness_probe_interval_ms, 3'000u);
  const Config overridden = parse({"--config", file.c_str(), "--admin", "127.0.0.1:9300"}).config;
  EXPECT_EQ(overridden.admin.port, 9300);
  std::string wrong = write(R"({"upstream": "imap://x", "admin_enabled": "no"})");
  EXPECT_NE(error_of({"--config", wrong.c_str()}).find("admin_enabled"), std::string::npos);
  std::string bad_address = write(R"({"upstream": "imap://x", "admin": "example.com:80"})");
  EXPECT_NE(error_of({"--config", bad_address.c_str()}).find("admin"), std::string::npos);
}

}  // namespace
}  // namespace popgate

// POPGATE_* environment variables, --log-format, --drain-timeout, --check-config, field paths.
namespace popgate {
namespace {

Parsed parse_with_environment(std::vector<const char*> args, const std::vector<std::string>& environment) {
  args.insert(args.begin(), "popgate");
  Parsed parsed;
  parsed.outcome =
      parse_command_line(static_cast<int>(args.size()), args.data(), environment, parsed.config, parsed.out);
  return parsed;
}

std::string environment_error_of(std::vector<const char*> args, const std::vector<std::string>& environment) {
  try {
    parse_with_environment(std::move(args), environment);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

class ConfigEnvironmentTest : public ::testing::Test {
 protected:
  std::string write(const std::string& json) {
    paths_.push_back(::testing::TempDir() + "popgate-env-config-" + std::to_string(getpid()) + "-" +
                     std::to_string(paths_.size()) + ".json");
    std::ofstream(paths_.back()) << json;
    return paths_.back();
  }
  void TearDown() override {
    for (const auto& path : paths_) std::remove(path.c_str());
  }
  std::vector<std::string> paths_;
};

TEST(ConfigEnvironment, VariableNamesComeFromTheOptionNames) {
  EXPECT_EQ(environment_variable_name("idle-timeout"), "POPGATE_IDLE_TIMEOUT");
  EXPECT_EQ(environment_variable_name("upstream"), "POPGATE_UPSTREAM");
  EXPECT_EQ(environment_variable_name("no-maildrop-lock"), "POPGATE_NO_MAILDROP_LOCK");
}

TEST_F(ConfigEnvironmentTest, EnvironmentOverridesTheFileAndTheCommandLine) {
  std::string file = write(R"({"upstream": "imap://10.0.0.1", "idle_timeout": 30, "mailbox": "FromFile",
                               "mark_seen": true, "listen": ["127.0.0.1:2110"]})");
  const std::vector<const char*> args = {"--config",  file.c_str(), "--idle-timeout", "40",
                                         "--mailbox", "FromCli",    "--listen",       "127.0.0.1:3110"};
  // Without the environment: the command line over the file.
  const Config cli = parse_with_environment(args, {}).config;
  EXPECT_EQ(cli.idle_timeout_ms, 40'000u);
  EXPECT_EQ(cli.mailbox, "FromCli");
  EXPECT_TRUE(cli.mark_seen);

  const Config c =
      parse_with_environment(args, {"HOME=/root", "POPGATE_IDLE_TIMEOUT=50", "POPGATE_MARK_SEEN=false",
                                    "POPGATE_LISTEN=127.0.0.1:110, 127.0.0.1:1110",
                                    "POPGATE_UPSTREAM=imaps://10.0.0.2", "POPGATE_NO_MAILDROP_LOCK=true",
                                    "POPGATE_MAX_LINE_LENGTH=1000", "POPGATE_DELETE_MODE=move:Trash"})
          .config;
  EXPECT_EQ(c.idle_timeout_ms, 50'000u);
  EXPECT_FALSE(c.mark_seen);
  EXPECT_EQ(c.mailbox, "FromCli") << "no POPGATE_MAILBOX: the command line still wins over the file";
  ASSERT_EQ(c.listen.size(), 2u) << "the environment's list replaces the command line's";
  EXPECT_EQ(c.listen[0].port, 110);
  EXPECT_EQ(c.listen[1].port, 1110);
  EXPECT_EQ(c.upstream.scheme, "imaps");
  EXPECT_EQ(c.upstream.host, "10.0.0.2");
  EXPECT_FALSE(c.maildrop_lock);
  EXPECT_EQ(c.limits.max_command_line, 1000u);
  EXPECT_EQ(c.delete_mode, DeleteMode::Move);
  EXPECT_EQ(c.move_target, "Trash");

  // A flag set in the file and the command line is turned off by =false; "no-" flags invert.
  const Config off = parse_with_environment({"--config", file.c_str(), "--mark-seen", "--no-maildrop-lock"},
                                            {"POPGATE_MARK_SEEN=false", "POPGATE_NO_MAILDROP_LOCK=false"})
                         .config;
  EXPECT_FALSE(off.mark_seen);
  EXPECT_TRUE(off.maildrop_lock);
}

TEST(ConfigEnvironment, EnvironmentAloneIsEnough) {
  const Config c = parse_with_environment({}, {"POPGATE_UPSTREAM=jmaps://mail.example.com"}).config;
  EXPECT_EQ(c.upstream.scheme, "jmaps");
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].port, 110);
  EXPECT_EQ(environment_error_of({}, {"POPGATE_MAILBOX=Archive"}).find("--upstream is required"), 0u);
}

TEST(ConfigEnvironment, UnknownVariablesAndBadValuesNameTheVariable) {
  EXPECT_NE(environment_error_of({"--upstream", "imap://x"}, {"POPGATE_IDLE_TIMOUT=5"})
                .find("unknown environment variable POPGATE_IDLE_TIMOUT"),
            std::string::npos);
  // --check-config, --help and --version are actions, not settings.
  EXPECT_NE(environment_error_of({"--upstream", "imap://x"}, {"POPGATE_CHECK_CONFIG=true"})
                .find("POPGATE_CHECK_CONFIG"),
            std::string::npos);
  const std::string timeout = environment_error_of({"--upstream", "imap://x"}, {"POPGATE_IDLE_TIMEOUT=soon"});
  EXPECT_NE(timeout.find("environment variable POPGATE_IDLE_TIMEOUT"), std::string::npos) << timeout;
  EXPECT_NE(timeout.find("'soon'"), std::string::npos) << timeout;
  const std::string flag = environment_error_of({"--upstream", "imap://x"}, {"POPGATE_MARK_SEEN=yes"});
  EXPECT_NE(flag.find("POPGATE_MARK_SEEN"), std::string::npos) << flag;
  EXPECT_NE(flag.find("true or false"), std::string::npos) << flag;
  const std::string list =
      environment_error_of({"--upstream", "imap://x"}, {"POPGATE_LISTEN=127.0.0.1:110,localhost:1110"});
  EXPECT_NE(list.find("POPGATE_LISTEN"), std::string::npos) << list;
  EXPECT_NE(list.find("'localhost:1110'"), std::string::npos) << list;
  EXPECT_NE(environment_error_of({}, {"POPGATE_UPSTREAM=ftp://x"}).find("POPGATE_UPSTREAM"),
            std::string::npos);
  EXPECT_NE(environment_error_of({"--upstream", "imap://x"}, {"POPGATE_LISTEN="}).find("POPGATE_LISTEN"),
            std::string::npos);
  EXPECT_NE(environment_error_of({"--upstream", "imap://x"}, {"POPGATE_CONFIG="}).find("POPGATE_CONFIG"),
            std::string::npos);
}

TEST(ConfigEnvironment, OtherVariablesAndKubernetesServiceLinksAreIgnored) {
  const Config c =
      parse_with_environment(
          {"--upstream", "imap://x"},
          {"PATH=/bin", "POPGATE", "XPOPGATE_IDLE_TIMEOUT=1", "popgate_idle_timeout=1",
           "POPGATE_SERVICE_HOST=10.96.0.10", "POPGATE_SERVICE_PORT=110", "POPGATE_SERVICE_PORT_POP3=110",
           "POPGATE_PORT=tcp://10.96.0.10:110", "POPGATE_PORT_110_TCP=tcp://10.96.0.10:110",
           "POPGATE_PORT_110_TCP_ADDR=10.96.0.10", "POPGATE_PORT_110_TCP_PROTO=tcp"})
          .config;
  EXPECT_EQ(c.idle_timeout_ms, 600'000u);
  EXPECT_NE(environment_error_of({"--upstream", "imap://x"}, {"POPGATE_PORTS=1"}).find("POPGATE_PORTS"),
            std::string::npos);
  // A Service named "popgate-admin" (the deploy/ manifests have one) links POPGATE_ADMIN_*.
  const Config admin =
      parse_with_environment(
          {"--upstream", "imap://x"},
          {"POPGATE_ADMIN_SERVICE_HOST=10.96.0.11", "POPGATE_ADMIN_SERVICE_PORT=9110",
           "POPGATE_ADMIN_SERVICE_PORT_METRICS=9110", "POPGATE_ADMIN_PORT=tcp://10.96.0.11:9110",
           "POPGATE_ADMIN_PORT_9110_TCP_ADDR=10.96.0.11", "POPGATE_IDLE_TIMEOUT=7"})
          .config;
  EXPECT_EQ(admin.idle_timeout_ms, 7'000u);
  EXPECT_NE(environment_error_of({"--upstream", "imap://x"}, {"POPGATE_ADMIN_PORTAL=1"})
                .find("POPGATE_ADMIN_PORTAL"),
            std::string::npos);
}

TEST_F(ConfigEnvironmentTest, PopgateConfigNamesTheFileOverCommandLineConfig) {
  std::string cli_file = write(R"({"upstream": "imap://10.0.0.1", "mailbox": "FromCliFile"})");
  std::string env_file = write(R"({"upstream": "imap://10.0.0.1", "mailbox": "FromEnvFile"})");
  const Config c =
      parse_with_environment({"--config", cli_file.c_str()}, {"POPGATE_CONFIG=" + env_file}).config;
  EXPECT_EQ(c.mailbox, "FromEnvFile");
  EXPECT_EQ(c.config_file, env_file);
}

TEST_F(ConfigEnvironmentTest, LogFormatAndDrainTimeout) {
  const Config defaults = parse({"--upstream", "imap://x"}).config;
  EXPECT_EQ(defaults.log_format, log::Format::Json);
  EXPECT_EQ(defaults.drain_timeout_ms, 30'000u);
  EXPECT_FALSE(defaults.check_config);

  const Config cli = parse({"--upstream", "imap://x", "--log-format", "text", "--drain-timeout", "1"}).config;
  EXPECT_EQ(cli.log_format, log::Format::Text);
  EXPECT_EQ(cli.drain_timeout_ms, 1'000u);
  EXPECT_EQ(parse({"--upstream", "imap://x", "--drain-timeout=0"}).config.drain_timeout_ms, 0u);

  std::string file = write(R"({"upstream": "imap://x", "log_format": "text", "drain_timeout": 1.5})");
  const Config from_file = parse({"--config", file.c_str()}).config;
  EXPECT_EQ(from_file.log_format, log::Format::Text);
  EXPECT_EQ(from_file.drain_timeout_ms, 1'500u);
  const Config from_environment =
      parse_with_environment({"--config", file.c_str(), "--log-format", "text"},
                             {"POPGATE_LOG_FORMAT=json", "POPGATE_DRAIN_TIMEOUT=5"})
          .config;
  EXPECT_EQ(from_environment.log_format, log::Format::Json);
  EXPECT_EQ(from_environment.drain_timeout_ms, 5'000u);

  EXPECT_NE(error_of({"--upstream", "imap://x", "--log-format", "xml"}).find("log-format"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--drain-timeout", "-1"}).find("drain-timeout"),
            std::string::npos);
  EXPECT_NE(usage().find("--log-format"), std::string::npos);
  EXPECT_NE(usage().find("--drain-timeout"), std::string::npos);
}

TEST(ConfigEnvironment, CheckConfigIsACommandLineFlag) {
  EXPECT_TRUE(parse({"--check-config", "--upstream", "imap://x"}).config.check_config);
  EXPECT_TRUE(parse({"--upstream", "imap://x", "--check-config"}).config.check_config);
}

TEST_F(ConfigEnvironmentTest, FileErrorsNameTheFieldPath) {
  std::string value = write(R"({"upstream": "imap://x", "idle_timeout": "soon"})");
  EXPECT_EQ(error_of({"--config", value.c_str()}),
            "config: field 'idle_timeout': expected a number of seconds, got 'soon'");
  std::string item = write(R"({"upstream": "imap://x", "listen": ["127.0.0.1:110", "localhost:1110"]})");
  EXPECT_EQ(error_of({"--config", item.c_str()}),
            "config: field 'listen[1]': expected a numeric ADDRESS:PORT such as 127.0.0.1:110, got "
            "'localhost:1110'");
  std::string type = write(R"({"upstream": "imap://x", "listen": ["127.0.0.1:110", 1110]})");
  EXPECT_EQ(error_of({"--config", type.c_str()}), "config: field 'listen[1]' must be a string");
  std::string upstream = write(R"({"upstream": "pop3://x"})");
  EXPECT_EQ(error_of({"--config", upstream.c_str()}).rfind("config: field 'upstream': ", 0), 0u)
      << error_of({"--config", upstream.c_str()});
  std::string format = write(R"({"upstream": "imap://x", "log_format": 1})");
  EXPECT_NE(error_of({"--config", format.c_str()}).find("field 'log_format'"), std::string::npos);
}

TEST(ConfigEnvironment, HelpDocumentsTheEnvironmentAndThePrecedence) {
  const std::string help = usage();
  EXPECT_NE(help.find("POPGATE_"), std::string::npos);
  EXPECT_NE(help.find("--check-config"), std::string::npos);
  EXPECT_NE(help.find("then the environment (which overrides both)"), std::string::npos) << help;
}

}  // namespace
}  // namespace popgate
