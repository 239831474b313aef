// ConfigReloader: what SIGHUP applies, what it only warns about, and that a bad config changes nothing.
#include "gateway/config/config_reload.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/gateway/captured_stderr.h"
#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using popgate::testing::CapturedStderr;

Config base_config() {
  Config config;
  config.upstream = parse_upstream_url("imap://127.0.0.1:143?tls=none");
  config.listen.push_back({"127.0.0.1", 0});
  return config;
}

// The JSON log lines of one event.
std::vector<nlohmann::json> events(const std::vector<std::string>& lines, std::string_view event) {
  std::vector<nlohmann::json> out;
  for (const auto& line : lines) {
    auto parsed = nlohmann::json::parse(line);
    if (parsed["event"] == event) out.push_back(parsed);
  }
  return out;
}

class ConfigReloaderTest : public ::testing::Test {
 protected:
  ConfigReloaderTest() {
    log::set_level(log::Level::Info);
    log::set_format(log::Format::Json);
    EXPECT_TRUE(service_.start());
    reloader_.set_on_reload([this](bool ok) { outcomes_.push_back(ok); });
  }
  ~ConfigReloaderTest() override {
    log::set_level(log::Level::Info);
    log::set_format(log::Format::Json);
  }

  Metrics metrics_;  // outlives the loop, whose dropped work may hold gauge tokens
  io::Loop loop_;
  popgate::testing::FakeUpstream upstream_;
  popgate::testing::FakeMailboxFactory factory_{loop_, upstream_};
  MaildropLocks locks_;
  LocalMaildropLockTable lock_table_{loop_, locks_};
  Pop3Service service_{
      loop_, std::make_shared<const Config>(base_config()), factory_, lock_table_, {}, nullptr, metrics_};
  Config next_ = base_config();  // what the next "parse" returns
  std::string parse_error_;      // or this, thrown as a ConfigError
  ConfigReloader reloader_{loop_, service_, nullptr, [this] {
                             if (!parse_error_.empty()) throw ConfigError(parse_error_);
                             return next_;
                           }};
  std::vector<bool> outcomes_;
};

TEST_F(ConfigReloaderTest, NewSettingsReachTheServiceAndTheLogSaysWhatChanged) {
  const auto before = service_.config();
  next_.idle_timeout_ms = 1'000;
  next_.limits.max_command_line = 64;
  next_.delete_mode = DeleteMode::Move;
  next_.move_target = "Trash";
  CapturedStderr captured;
  EXPECT_TRUE(reloader_.reload());
  const auto lines = captured.lines();

  EXPECT_NE(service_.config(), before);
  EXPECT_EQ(service_.config()->idle_timeout_ms, 1'000u);
  EXPECT_EQ(service_.config()->limits.max_command_line, 64u);
  EXPECT_EQ(service_.config()->move_target, "Trash");
  EXPECT_EQ(before->idle_timeout_ms, 600'000u) << "the old config, held by old sessions, is untouched";
  EXPECT_EQ(outcomes_, std::vector<bool>{true});
  const auto reloaded = events(lines, "config_reloaded");
  ASSERT_EQ(reloaded.size(), 1u);
  EXPECT_EQ(reloaded[0]["changed"], "delete_mode,idle_timeout,max_line_length");
  EXPECT_TRUE(events(lines, "config_restart_required").empty());
}

TEST_F(ConfigReloaderTest, NothingChangedIsStillAReload) {
  CapturedStderr captured;
  EXPECT_TRUE(reloader_.reload());
  const auto reloaded = events(captured.lines(), "config_reloaded");
  ASSERT_EQ(reloaded.size(), 1u);
  EXPECT_EQ(reloaded[0]["changed"], "none");
}

TEST_F(ConfigReloaderTest, AParseErrorKeepsEverythingAndIsOneErrorLine) {
  const auto before = service_.config();
  parse_error_ = "config: field 'listen[1]' must be a string";
  next_.idle_timeout_ms = 1'000;
  CapturedStderr captured;
  EXPECT_FALSE(reloader_.reload());
  const auto lines = captured.lines();
  EXPECT_EQ(service_.config(), before);
  EXPECT_EQ(outcomes_, std::vector<bool>{false});
  ASSERT_EQ(lines.size(), 1u) << captured.text();
  const auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["event"], "config_reload_failed");
  EXPECT_EQ(line["reason"], "config: field 'listen[1]' must be a string");
}

TEST_F(ConfigReloaderTest, AnUnreadableUpstreamCaKeepsEverything) {
  const auto before = service_.config();
  next_.upstream = parse_upstream_url("imaps://127.0.0.1");
  next_.upstream_ca = "/nonexistent/ca.pem";
  CapturedStderr captured;
  EXPECT_FALSE(reloader_.reload());
  const auto lines = captured.lines();
  EXPECT_EQ(service_.config(), before);
  ASSERT_EQ(lines.size(), 1u) << captured.text();
  EXPECT_NE(lines[0].find("/nonexistent/ca.pem"), std::string::npos) << lines[0];
}

TEST_F(ConfigReloaderTest, ListenersAdminAndTlsOnOffAreNotAppliedButNamed) {
  next_.listen = {{"127.0.0.1", 1110}};
  next_.listen_tls = {{"127.0.0.1", 1995}};
  next_.admin = {"127.0.0.1", 9999};
  next_.tls_cert = "/etc/popgate/cert.pem";
  next_.tls_key = "/etc/popgate/key.pem";
  next_.mark_seen = true;
  CapturedStderr captured;
  EXPECT_TRUE(reloader_.reload());
  const auto lines = captured.lines();
  const auto& now = *service_.config();
  ASSERT_EQ(now.listen.size(), 1u);
  EXPECT_EQ(now.listen[0].port, 0) << "the config keeps recording what really listens";
  EXPECT_TRUE(now.listen_tls.empty());
  EXPECT_EQ(now.admin.port, 9110);
  EXPECT_TRUE(now.tls_cert.empty());
  EXPECT_TRUE(now.mark_seen) << "the rest applies";
  const auto warnings = events(lines, "config_restart_required");
  ASSERT_EQ(warnings.size(), 1u) << captured.text();
  EXPECT_EQ(warnings[0]["level"], "warn");
  EXPECT_EQ(warnings[0]["settings"], "listen,listen_tls,admin,tls_cert (TLS on)");
  EXPECT_NE(warnings[0]["message"].get<std::string>().find("restart to apply"), std::string::npos);
  EXPECT_EQ(events(lines, "config_reloaded").at(0)["changed"], "mark_seen");
}

TEST_F(ConfigReloaderTest, ChangedOAuth2ClientsAreNamedForARestartNotDroppedSilently) {
  const std::string running = service_.config()->oauth2_clients_json;
  next_.oauth2_clients_json = R"({"m365": {"token_endpoint": "https://login.example/token"}})";
  next_.token_dir = "/var/lib/popgate/other-tokens";
  next_.idle_timeout_ms = 42'000;
  CapturedStderr captured;
  EXPECT_TRUE(reloader_.reload());
  const auto lines = captured.lines();
  const auto& now = *service_.config();
  EXPECT_EQ(now.oauth2_clients_json, running) << "the token manager in use keeps its clients";
  EXPECT_TRUE(now.token_dir.empty());
  EXPECT_EQ(now.idle_timeout_ms, 42'000u) << "the rest applies";
  const auto warnings = events(lines, "config_restart_required");
  ASSERT_EQ(warnings.size(), 1u) << captured.text();
  EXPECT_EQ(warnings[0]["settings"], "oauth2_clients,token_dir");
  EXPECT_EQ(events(lines, "config_reloaded").at(0)["changed"], "idle_timeout");
}

TEST_F(ConfigReloaderTest, LogLevelAndFormatApplyAtOnce) {
  next_.log_level = log::Level::Error;
  next_.log_format = log::Format::Text;
  EXPECT_TRUE(reloader_.reload());
  EXPECT_FALSE(log::enabled(log::Level::Warn));
  EXPECT_EQ(log::format(), log::Format::Text);
}

TEST(ChangedSettings, NamesTheConfigFileFields) {
  Config a = base_config();
  Config b = a;
  EXPECT_TRUE(changed_settings(a, b).empty());
  b.upstream = parse_upstream_url("jmaps://mail.example.com");
  b.auth_failure_delay_ms = 0;
  b.limits.max_bad_commands_before_login = 5;
  b.log_level = log::Level::Debug;
  b.drain_timeout_ms = 1;
  EXPECT_EQ(changed_settings(a, b),
            (std::vector<std::string>{"upstream", "auth_failure_delay", "max_bad_commands_auth", "log_level",
                                      "drain_timeout"}));
  EXPECT_TRUE(needs_restart("listen"));
  EXPECT_TRUE(needs_restart("admin"));
  EXPECT_FALSE(needs_restart("upstream"));
  EXPECT_FALSE(needs_restart("idle_timeout"));
  EXPECT_TRUE(needs_restart("oauth2_clients"));
}

}  // namespace
}  // namespace popgate
