// Command-line and config-file parsing: values, defaults, precedence and clear errors.
#include "gateway/config.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

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
  auto parsed = parse({"--listen", "127.0.0.1:1110", "--upstream", "imap://127.0.0.1:143", "--mailbox", "Archive",
                       "--delete-mode", "move:Trash", "--mark-seen", "--idle-timeout", "30"});
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
  const Config c = parse({"--upstream", "imap://[::1]:1143", "--listen", "127.0.0.1:1", "--listen=[::1]:2"}).config;
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
  EXPECT_NE(error_of({"--upstream", "imap://x", "--tls-cert", "c.pem"}).find("go together"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--listen-tls", "127.0.0.1:995"}).find("needs --tls-cert"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x:99999"}).find("port"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--bogus"}).find("unknown option '--bogus'"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--idle-timeout", "soon"}).find("idle-timeout"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--idle-timeout"}).find("needs a value"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--delete-mode", "shred"}).find("delete-mode"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--listen", "localhost:110"}).find("numeric"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--max-line-length", "3"}).find("max-line-length"),
            std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "--mark-seen=yes"}).find("takes no value"), std::string::npos);
  EXPECT_NE(error_of({"--upstream", "imap://x", "stray"}).find("unexpected argument"), std::string::npos);
}

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& json) {
    path_ = ::testing::TempDir() + "popgate-config-" + std::to_string(counter_++) + ".json";
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
  const Config c = parse({"--upstream", "imaps://mail.example.com", "--tls-cert", "/c.pem", "--tls-key", "/k.pem",
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
