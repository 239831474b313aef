// SIGHUP re-reads the config file (and the environment and command line): new sessions get the new
// settings, sessions already connected keep theirs and are not dropped, and a bad file changes
// nothing. POPGATE_* environment variables work end to end.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <sstream>
#include <thread>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

class Reload : public MailTest {
 protected:
  // Replaces the config file in one rename, as a deployment tool would.
  void write_config(const std::string& json) {
    const fs::path staging = config_.string() + ".new";
    write_file(staging, json);
    fs::rename(staging, config_);
  }
  std::function<std::string()> log() {
    return [this] { return popgate_->log_text(); };
  }
  // Sends SIGHUP and waits for its outcome: the `count`-th `event` line.
  void reload_and_wait(std::string_view event, size_t count) {
    popgate_->send_signal(SIGHUP);
    ASSERT_TRUE(wait_for_popgate_events(log(), event, count)) << popgate_->log_text();
  }

  TempDir dir_{"popgate-reload"};
  fs::path config_ = dir_ / "popgate.json";
};

const std::string kLongUser(100, 'u');  // "USER uuu...": 107 octets with CRLF

TEST_F(Reload, NewLimitAppliesToNewSessionsWhileAnOldSessionKeepsItsOwn) {
  start_dovecot(make_small_corpus(3));
  write_config(R"({"max_line_length": 512})");
  start_popgate({"--config", config_.string()});

  Pop3Client old_session(popgate_->port());
  ASSERT_EQ(old_session.greeting().rfind("+OK", 0), 0u);
  EXPECT_EQ(old_session.command("USER " + kLongUser), "+OK") << "the limit before the reload";

  write_config(R"({"max_line_length": 64})");
  reload_and_wait("config_reloaded", 1);
  const auto reloaded = popgate_events(popgate_->log_text(), "config_reloaded");
  ASSERT_EQ(reloaded.size(), 1u);
  EXPECT_EQ(log_field(reloaded[0], "changed"), "max_line_length") << reloaded[0];

  Pop3Client new_session(popgate_->port());
  EXPECT_EQ(new_session.command("USER " + kLongUser), "-ERR Line too long.")
      << "a session accepted after SIGHUP";
  EXPECT_EQ(new_session.login(kOtherUser, kOtherPassword), "+OK Logged in.");
  EXPECT_EQ(new_session.command("QUIT").rfind("+OK", 0), 0u);

  // The session from before the reload: its old limit, and it goes on to log in and read mail.
  EXPECT_EQ(old_session.command("USER " + kLongUser), "+OK");
  EXPECT_EQ(old_session.login(kUser, kPassword), "+OK Logged in.");
  EXPECT_EQ(
      old_session.command("STAT"),
      "+OK 3 " + std::to_string(corpus_[0].bytes.size() + corpus_[1].bytes.size() + corpus_[2].bytes.size()));
  const Pop3Response retr = old_session.multiline("RETR 2");
  EXPECT_TRUE(retr.ok()) << retr.status;
  EXPECT_EQ(old_session.command("QUIT").rfind("+OK", 0), 0u);
  EXPECT_TRUE(old_session.wait_for_close(std::chrono::seconds(5)));
  EXPECT_TRUE(popgate_->running());
}

TEST_F(Reload, NewMailboxSettingReachesSessionsAcceptedAfterTheReload) {
  start_dovecot(make_small_corpus(3), {"Archive"});
  dovecot_->deliver(kUser, make_small_corpus(1)[0].bytes, "Archive");
  write_config(R"({"mailbox": "INBOX"})");
  start_popgate({"--config", config_.string()});

  // Connected before the reload, logging in after it: the mailbox factory it was accepted with.
  Pop3Client before(popgate_->port());
  write_config(R"({"mailbox": "Archive", "delete_mode": "keep"})");
  reload_and_wait("config_reloaded", 1);
  EXPECT_EQ(log_field(popgate_events(popgate_->log_text(), "config_reloaded").at(0), "changed"),
            "mailbox,delete_mode");

  EXPECT_EQ(before.login(kUser, kPassword), "+OK Logged in.");
  EXPECT_EQ(before.command("STAT").substr(0, 6), "+OK 3 ") << "INBOX, as when it connected";
  EXPECT_EQ(before.command("QUIT").rfind("+OK", 0), 0u);
  ASSERT_TRUE(before.wait_for_close(std::chrono::seconds(5)));

  const std::string after_login =
      login_when_free(popgate_->port(), kUser, kPassword, std::chrono::seconds(10));
  ASSERT_EQ(after_login.rfind("+OK", 0), 0u) << after_login;
  auto after = popgate_login();
  EXPECT_EQ(after->command("STAT").substr(0, 6), "+OK 1 ") << "the Archive folder after SIGHUP";
  EXPECT_EQ(after->command("DELE 1").rfind("+OK", 0), 0u);
  EXPECT_EQ(after->command("QUIT").rfind("+OK", 0), 0u);
  ASSERT_TRUE(after->wait_for_close(std::chrono::seconds(5)));
  EXPECT_EQ(imap_uids("Archive").size(), 1u) << "delete_mode keep came with the reload";
}

TEST_F(Reload, BadConfigKeepsTheOldOneAndLogsOneError) {
  start_dovecot(make_small_corpus(2));
  write_config(R"({"max_line_length": 64})");
  start_popgate({"--config", config_.string()});
  Pop3Client live(popgate_->port());
  ASSERT_EQ(live.login(kUser, kPassword), "+OK Logged in.");

  const auto error_lines = [this] {
    size_t n = 0;
    // Text lines: "TS LEVEL EVENT ...".
    std::istringstream lines(popgate_->log_text());
    for (std::string line; std::getline(lines, line);)
      n += line.find(' ') == 24 && line.substr(25, 6) == "error ";
    return n;
  };
  const struct {
    const char* json;
    const char* reason;
  } bad[] = {
      {R"({"max_line_length": 64, )", "not valid JSON"},
      {R"({"max_line_length": 1000, "idle_timout": 5})", "unknown field 'idle_timout'"},
      {R"({"max_line_length": 1000, "listen": ["127.0.0.1:110", 7]})", "field 'listen[1]' must be a string"},
      {R"({"max_line_length": 1000, "upstream_ca": "/nonexistent/ca.pem"})", "/nonexistent/ca.pem"},
  };
  size_t failures = 0;
  for (const auto& config : bad) {
    write_config(config.json);
    reload_and_wait("config_reload_failed", ++failures);
    const auto failed = popgate_events(popgate_->log_text(), "config_reload_failed");
    EXPECT_NE(log_field(failed.back(), "reason").find(config.reason), std::string::npos) << failed.back();
    EXPECT_EQ(error_lines(), failures) << "one error line per failed reload:\n" << popgate_->log_text();
    EXPECT_TRUE(popgate_->running());
    // Still the old limit for a new session, and the live session goes on.
    Pop3Client probe(popgate_->port());
    EXPECT_EQ(probe.command("USER " + kLongUser), "-ERR Line too long.") << config.json;
    EXPECT_EQ(live.command("NOOP"), "+OK");
  }
  EXPECT_TRUE(popgate_events(popgate_->log_text(), "config_reloaded").empty());

  // Fixed: the next SIGHUP applies it.
  write_config(R"({"max_line_length": 1000})");
  reload_and_wait("config_reloaded", 1);
  Pop3Client fixed(popgate_->port());
  EXPECT_EQ(fixed.command("USER " + kLongUser), "+OK");
  EXPECT_EQ(live.multiline("LIST").status.rfind("+OK", 0), 0u);
  EXPECT_EQ(live.command("QUIT").rfind("+OK", 0), 0u);
}

TEST_F(Reload, ChangedListenAddressesAreNotReboundButNamedInAWarning) {
  start_dovecot(make_small_corpus(1));
  // Listeners from the file only: the fixture's --listen would win over the file's.
  const uint16_t first = free_port();
  uint16_t second = free_port();
  while (second == first) second = free_port();
  const std::string upstream = "imap://127.0.0.1:" + std::to_string(dovecot_->imap_port());
  write_config(R"({"upstream": ")" + upstream + R"(", "listen": ["127.0.0.1:)" + std::to_string(first) +
               R"("], "idle_timeout": 600, "auth_failure_delay": 0})");
  SpawnOptions spawn;
  spawn.argv = {POPGATE_BINARY, "--config", config_.string(), "--no-admin", "--log-format", "text"};
  spawn.stderr_path = dir_ / "popgate.stderr";
  ChildProcess process(spawn);
  const auto read_log = [&] { return read_file(dir_ / "popgate.stderr"); };
  ASSERT_TRUE(wait_for_port(first, std::chrono::seconds(10), [&] { return process.running(); }))
      << read_log();

  write_config(R"({"upstream": ")" + upstream + R"(", "listen": ["127.0.0.1:)" + std::to_string(second) +
               R"("], "idle_timeout": 300, "auth_failure_delay": 0})");
  process.send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events(read_log, "config_restart_required", 1)) << read_log();
  const auto warning = popgate_events(read_log(), "config_restart_required").at(0);
  EXPECT_EQ(log_field(warning, "settings"), "listen") << warning;
  EXPECT_NE(log_field(warning, "message").find("restart to apply"), std::string::npos) << warning;
  EXPECT_NE(warning.find(" warn "), std::string::npos) << warning;
  const auto reloaded = popgate_events(read_log(), "config_reloaded");
  ASSERT_EQ(reloaded.size(), 1u) << read_log();
  EXPECT_EQ(log_field(reloaded[0], "changed"), "idle_timeout") << "the rest of the file applies";

  // Still on the first port only.
  Pop3Client client(first);
  EXPECT_EQ(client.login(kUser, kPassword), "+OK Logged in.");
  EXPECT_EQ(client.command("QUIT").rfind("+OK", 0), 0u);
  bool rebound = false;
  try {
    ::close(connect_loopback(second));
    rebound = true;
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(rebound) << "popgate bound the new address";
  EXPECT_TRUE(process.running());
  const int status = process.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_wait_status(status);
}

TEST_F(Reload, EnvironmentVariablesOverrideTheCommandLine) {
  start_dovecot(make_small_corpus(2));
  const auto before = imap_uids();
  PopgateOptions options;
  options.environment = {"POPGATE_IDLE_TIMEOUT=1", "POPGATE_MARK_SEEN=true"};
  start_popgate({"--idle-timeout", "600"}, options);

  auto gate = popgate_login();
  EXPECT_EQ(gate->command("DELE 1").rfind("+OK", 0), 0u);
  EXPECT_TRUE(gate->multiline("RETR 2").ok());
  const auto idle_since = std::chrono::steady_clock::now();
  gate->socket().set_timeout(std::chrono::seconds(10));
  const std::string farewell = gate->read_status_line();
  const auto idle_for = std::chrono::steady_clock::now() - idle_since;
  EXPECT_EQ(farewell.substr(0, 4), "-ERR") << farewell;
  EXPECT_GE(idle_for, std::chrono::milliseconds(900));
  EXPECT_LT(idle_for, std::chrono::seconds(5))
      << "POPGATE_IDLE_TIMEOUT=1 did not override --idle-timeout 600";
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(5)));
  EXPECT_EQ(imap_uids(), before) << "an autologout deleted something";
  auto imap = imap_select();
  EXPECT_NE(imap->flags(before[1]).find("\\Seen"), std::string::npos) << "POPGATE_MARK_SEEN=true";
}

TEST_F(Reload, UnknownEnvironmentVariableStopsTheStartWithItsName) {
  SpawnOptions spawn;
  spawn.argv = {POPGATE_BINARY, "--upstream", "imap://127.0.0.1:1", "--no-admin", "--listen", "127.0.0.1:0"};
  spawn.extra_env = {"POPGATE_IDLE_TIMOUT=1"};
  RunResult result = run_program(spawn, std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "popgate: unknown environment variable POPGATE_IDLE_TIMOUT (see --help)\n");
  spawn.extra_env = {"POPGATE_IDLE_TIMEOUT=soon"};
  result = run_program(spawn, std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("environment variable POPGATE_IDLE_TIMEOUT"), std::string::npos) << result.err;
}

class TlsConfigReload : public TlsMailTest {
 protected:
  TempDir dir_{"popgate-tls-reload"};
  fs::path config_ = dir_ / "popgate.json";
  void write_config(const std::string& cert, const std::string& key) {
    const fs::path staging = config_.string() + ".new";
    write_file(staging, R"({"tls_cert": ")" + cert + R"(", "tls_key": ")" + key + R"("})");
    fs::rename(staging, config_);
  }
};

TEST_F(TlsConfigReload, CertificatePathsChangedInTheFileApplyToNewSessions) {
  start_dovecot(make_small_corpus(1));
  write_config(certs().server_cert, certs().server_key);
  PopgateOptions options;
  options.listen_tls = true;
  start_popgate({"--config", config_.string()}, options);
  auto log = [this] { return popgate_->log_text(); };
  const std::string first = pem_certificate_der(certs().server_cert);
  const std::string second = pem_certificate_der(certs().chain_cert);

  auto old_session = TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca());
  ASSERT_EQ(old_session->peer_certificate_der(), first);
  ASSERT_EQ(old_session->login(kOtherUser, kOtherPassword).rfind("+OK", 0), 0u);

  // Other files, not new contents: the paths themselves come from the reloaded config.
  write_config(certs().chain_cert, certs().chain_key);
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events(log, "config_reloaded", 1)) << log();
  EXPECT_EQ(log_field(popgate_events(log(), "config_reloaded").at(0), "changed"), "tls_cert,tls_key");
  EXPECT_EQ(log_field(popgate_events(log(), "tls_reloaded").at(0), "cert"), certs().chain_cert);
  auto new_session = TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca());
  EXPECT_EQ(new_session->peer_certificate_der(), second);
  EXPECT_EQ(new_session->login(kUser, kPassword).rfind("+OK", 0), 0u);
  EXPECT_EQ(new_session->command("QUIT").rfind("+OK", 0), 0u);

  // A key that does not match: the whole reload fails, the second certificate stays.
  write_config(certs().server_cert, certs().other_key);
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events(log, "tls_reload_failed", 1)) << log();
  EXPECT_EQ(popgate_events(log(), "config_reloaded").size(), 1u) << "a failed reload reported as applied";
  auto after_failure = TlsPop3Client::plain(popgate_->port(), trusting_test_ca());
  EXPECT_EQ(after_failure->stls(), "+OK Begin TLS negotiation now.");
  EXPECT_EQ(after_failure->peer_certificate_der(), second);

  EXPECT_EQ(old_session->command("NOOP").rfind("+OK", 0), 0u) << "the session from before both reloads";
  EXPECT_EQ(old_session->peer_certificate_der(), first);
}

}  // namespace
}  // namespace popgate::integration
