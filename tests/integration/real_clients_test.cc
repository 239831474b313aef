// Real POP3 clients (curl, Python's poplib, fetchmail) download through popgate exactly what they
// download from Dovecot's own POP3. Each client is also run against Dovecot first, which checks the
// harness: what the client writes is what the protocol-level comparison expects.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/child_process.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;
using RealClients = MailTest;

constexpr auto kClientTimeout = std::chrono::seconds(120);

std::string pop3_url(uint16_t port, std::string_view path = "") {
  return "pop3://" + std::string(kUser) + ":" + std::string(kPassword) +
         "@127.0.0.1:" + std::to_string(port) + "/" + std::string(path);
}

RunResult curl(std::vector<std::string> args) {
  SpawnOptions options;
  options.argv = {find_program("curl"), "--silent", "--show-error", "--max-time", "60"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return run_program(options, kClientTimeout);
}

TEST_F(RealClients, CurlListsAndRetrievesLikeFromDovecot) {
  start_dovecot(make_corpus({.small_count = 5}));
  start_popgate();
  auto oracle = oracle_login();
  const std::string want_list = oracle->multiline("LIST").body;
  const std::string want_uidl = oracle->multiline("UIDL").body;

  for (uint16_t port : {dovecot_->pop3_port(), popgate_->port()}) {
    const std::string server = port == popgate_->port() ? "popgate" : "dovecot";
    SCOPED_TRACE("curl against " + server);
    RunResult list = curl({pop3_url(port)});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_TRUE(same_bytes(want_list, list.out)) << "curl " << pop3_url(port);
    RunResult uidl = curl({"--request", "UIDL", pop3_url(port)});
    EXPECT_EQ(uidl.exit_code, 0) << uidl.err;
    EXPECT_TRUE(same_bytes(want_uidl, uidl.out)) << "curl --request UIDL";
    for (size_t n = 1; n <= corpus_.size(); ++n) {
      const Pop3Response want = oracle->multiline("RETR " + std::to_string(n));
      RunResult retr = curl({pop3_url(port, std::to_string(n))});
      EXPECT_EQ(retr.exit_code, 0) << retr.err;
      EXPECT_TRUE(same_bytes(dot_unstuff(want.body), retr.out))
          << "curl " << pop3_url(port, std::to_string(n));
    }
  }
}

// Every message poplib's retr() returned, as its script wrote them; plus "list" and "uidl".
std::map<std::string, std::string> run_poplib(uint16_t port, const TempDir& dir) {
  const fs::path out = dir / ("poplib-" + std::to_string(port));
  fs::create_directory(out);
  SpawnOptions options;
  options.argv = {
      find_program("python3"), std::string(POPGATE_SOURCE_DIR) + "/tests/integration/clients/poplib_fetch.py",
      std::to_string(port),    std::string(kUser),
      std::string(kPassword),  out.string()};
  RunResult r = run_program(options, kClientTimeout);
  EXPECT_EQ(r.exit_code, 0) << "poplib_fetch.py: " << r.out << r.err;
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(out))
    files[entry.path().filename()] = read_file(entry.path());
  return files;
}

TEST_F(RealClients, PythonPoplibDownloadsEveryMessage) {
  start_dovecot(make_corpus());
  start_popgate();
  auto oracle = oracle_login();
  const std::string want_uidl = oracle->multiline("UIDL").body;
  TempDir dir("poplib");

  for (uint16_t port : {dovecot_->pop3_port(), popgate_->port()}) {
    SCOPED_TRACE(port == popgate_->port() ? "poplib against popgate" : "poplib against dovecot");
    auto files = run_poplib(port, dir);
    ASSERT_EQ(files.size(), corpus_.size() + 2) << "one file per message plus list and uidl";
    EXPECT_TRUE(same_bytes(want_uidl, files["uidl"])) << "uidl()";
    for (size_t n = 1; n <= corpus_.size(); ++n) {
      const Pop3Response want = oracle->multiline("RETR " + std::to_string(n));
      EXPECT_TRUE(same_bytes(dot_unstuff(want.body), files[std::to_string(n)]))
          << "retr(" << n << ") " << corpus_[n - 1].label;
    }
  }
}

// fetchmail prepends a Received: header naming the server's port and the time; everything else it
// writes must be the same whichever server it polled.
std::string without_fetchmail_received(const std::string& message) {
  if (message.rfind("Received: ", 0) != 0) return message;
  size_t at = message.find('\n');
  while (at != std::string::npos && at + 1 < message.size() &&
         (message[at + 1] == '\t' || message[at + 1] == ' ')) {
    at = message.find('\n', at + 1);
  }
  return at == std::string::npos ? "" : message.substr(at + 1);
}

// Runs fetchmail (keep, fetch all, no address rewriting) with an MDA that stores each message in
// OUT/<n>; returns the messages in delivery order.
std::vector<std::string> run_fetchmail(uint16_t port, const TempDir& dir) {
  const std::string name = "fetchmail-" + std::to_string(port);
  const fs::path home = dir / name;
  const fs::path out = home / "out";
  fs::create_directories(out);
  write_file(home / "mda.sh", "#!/bin/sh\nn=$(ls \"$1\" | wc -l)\nexec cat > \"$1/$((n + 1))\"\n");
  fs::permissions(home / "mda.sh", fs::perms::owner_all);
  // No TLS (sslproto ''): fetchmail 6.4 tries STLS even when CAPA does not offer it.
  std::string rc =
      "set no bouncemail\n"
      "set no syslog\n"
      "poll 127.0.0.1 with proto POP3 port @PORT@ and options no dns\n"
      "  user \"@USER@\" there with password \"@PASSWORD@\" is \"root\" here\n"
      "  options keep fetchall no rewrite sslproto ''\n"
      "  mda \"@MDA@ @OUT@\"\n";
  rc.replace(rc.find("@PORT@"), 6, std::to_string(port));
  rc.replace(rc.find("@USER@"), 6, kUser);
  rc.replace(rc.find("@PASSWORD@"), 10, kPassword);
  rc.replace(rc.find("@MDA@"), 5, (home / "mda.sh").string());
  rc.replace(rc.find("@OUT@"), 5, out.string());
  write_file(home / "fetchmailrc", rc);
  fs::permissions(home / "fetchmailrc", fs::perms::owner_read | fs::perms::owner_write);
  SpawnOptions options;
  options.argv = {find_program("fetchmail"),
                  "--fetchmailrc",
                  (home / "fetchmailrc").string(),
                  "--nodetach",
                  "--pidfile",
                  (home / "fetchmail.pid").string()};
  options.extra_env = {"HOME=" + home.string(), "FETCHMAILHOME=" + home.string()};
  RunResult r = run_program(options, kClientTimeout);
  EXPECT_EQ(r.exit_code, 0) << "fetchmail: " << r.out << r.err;
  std::vector<std::string> messages;
  for (size_t n = 1; fs::exists(out / std::to_string(n)); ++n)
    messages.push_back(read_file(out / std::to_string(n)));
  return messages;
}

TEST_F(RealClients, FetchmailDownloadsEveryMessage) {
  start_dovecot(make_corpus());
  start_popgate();
  TempDir dir("fetchmail");
  const auto from_dovecot = run_fetchmail(dovecot_->pop3_port(), dir);
  ASSERT_EQ(from_dovecot.size(), corpus_.size()) << "fetchmail against dovecot";
  // Harness check: fetchmail really wrote the messages (it turns CRLF into LF).
  EXPECT_NE(from_dovecot[message_number(corpus_, "dots") - 1].find("\n..\n...\n"), std::string::npos);

  const auto from_popgate = run_fetchmail(popgate_->port(), dir);
  ASSERT_EQ(from_popgate.size(), corpus_.size()) << "fetchmail against popgate";
  for (size_t i = 0; i < corpus_.size(); ++i) {
    EXPECT_TRUE(
        same_bytes(without_fetchmail_received(from_dovecot[i]), without_fetchmail_received(from_popgate[i])))
        << "message " << i + 1 << " (" << corpus_[i].label << ")";
  }
}

}  // namespace
}  // namespace popgate::integration
