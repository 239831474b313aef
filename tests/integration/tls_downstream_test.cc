// POP3 clients over TLS to popgate: STLS (RFC 2595) and implicit TLS with Python's poplib and curl,
// what CAPA offers before and after TLS, and plaintext pipelined after STLS being thrown away.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/loopback.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;
using TlsDownstream = TlsMailTest;

// The special messages, a 1 MiB one (many TLS records) and a few small ones.
std::vector<CorpusMessage> tls_corpus() {
  return make_corpus({.include_large = true, .large_size = 1024 * 1024, .small_count = 5});
}

// What poplib_tls_fetch.py wrote: one file per message plus "list", "uidl" and "tls".
std::map<std::string, std::string> run_poplib_tls(const std::string& mode, uint16_t port,
                                                  const std::string& ca, const TempDir& dir) {
  const fs::path out = dir / ("poplib-" + mode);
  fs::create_directory(out);
  RunResult r = run_python_client("poplib_tls_fetch.py", {mode, std::to_string(port), std::string(kUser),
                                                          std::string(kPassword), out.string(), ca});
  EXPECT_EQ(r.exit_code, 0) << "poplib_tls_fetch.py " << mode << ": " << r.out << r.err;
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(out))
    files[entry.path().filename()] = read_file(entry.path());
  return files;
}

class PoplibOverTls : public TlsDownstream, public ::testing::WithParamInterface<std::string> {};

TEST_P(PoplibOverTls, DownloadsEveryMessageLikeDovecotsOwnPop3) {
  start_dovecot(tls_corpus());
  start_tls_popgate();
  auto oracle = oracle_login();
  const std::string want_uidl = oracle->multiline("UIDL").body;
  TempDir dir("poplib-tls");

  const bool implicit = GetParam() == "implicit";
  auto files =
      run_poplib_tls(GetParam(), implicit ? popgate_->tls_port() : popgate_->port(), certs().ca_cert, dir);
  ASSERT_EQ(files.size(), corpus_.size() + 3) << "one file per message plus list, uidl and tls";
  EXPECT_EQ(files["tls"].rfind("TLSv1.", 0), 0u) << files["tls"];
  EXPECT_TRUE(same_bytes(want_uidl, files["uidl"])) << "uidl()";
  for (size_t n = 1; n <= corpus_.size(); ++n) {
    const Pop3Response want = oracle->multiline("RETR " + std::to_string(n));
    EXPECT_TRUE(same_bytes(dot_unstuff(want.body), files[std::to_string(n)]))
        << "retr(" << n << ") " << corpus_[n - 1].label;
  }
  // popgate's side of it: the session really ran over TLS.
  EXPECT_EQ(popgate_events(popgate_->log_text(), "tls_established").size(), 1u) << popgate_->log_text();
}

INSTANTIATE_TEST_SUITE_P(TlsDownstream, PoplibOverTls, ::testing::Values("stls", "implicit"),
                         [](const auto& info) { return info.param == "stls" ? "Stls" : "Pop3Ssl"; });

RunResult curl(std::vector<std::string> args) {
  SpawnOptions options;
  options.argv = {find_program("curl"), "--silent", "--show-error", "--max-time", "60"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return run_program(options, std::chrono::seconds(90));
}

TEST_F(TlsDownstream, CurlPop3sAndSslReqdListAndRetrieve) {
  start_dovecot(tls_corpus());
  start_tls_popgate();
  auto oracle = oracle_login();
  const std::string want_list = oracle->multiline("LIST").body;
  const std::string credentials = std::string(kUser) + ":" + std::string(kPassword) + "@localhost:";

  struct Variant {
    std::string name;
    std::string base_url;
    std::vector<std::string> options;
  };
  const std::vector<Variant> variants = {
      {"pop3s:// (implicit TLS)", "pop3s://" + credentials + std::to_string(popgate_->tls_port()) + "/", {}},
      {"pop3:// --ssl-reqd (STLS)",
       "pop3://" + credentials + std::to_string(popgate_->port()) + "/",
       {"--ssl-reqd"}},
  };
  size_t sessions = 0;
  for (const auto& variant : variants) {
    SCOPED_TRACE("curl " + variant.name);
    std::vector<std::string> args = {"--cacert", certs().ca_cert};
    args.insert(args.end(), variant.options.begin(), variant.options.end());
    auto with_url = [&](const std::string& url) {
      auto a = args;
      a.push_back(url);
      return a;
    };
    RunResult list = curl(with_url(variant.base_url));
    ++sessions;
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_TRUE(same_bytes(want_list, list.out)) << "curl " << variant.base_url;
    for (size_t n = 1; n <= corpus_.size(); ++n) {
      const Pop3Response want = oracle->multiline("RETR " + std::to_string(n));
      RunResult retr = curl(with_url(variant.base_url + std::to_string(n)));
      ++sessions;
      EXPECT_EQ(retr.exit_code, 0) << retr.err;
      EXPECT_TRUE(same_bytes(dot_unstuff(want.body), retr.out))
          << "message " << n << " " << corpus_[n - 1].label;
    }
  }
  // Every curl session was a TLS session on popgate's side.
  EXPECT_EQ(popgate_events(popgate_->log_text(), "tls_established").size(), sessions) << popgate_->log_text();
}

TEST_F(TlsDownstream, CapaListsStlsBeforeTlsOnlyAndStlsCannotBeRepeated) {
  start_dovecot(make_small_corpus(2));
  start_tls_popgate();

  auto client = TlsPop3Client::plain(popgate_->port(), trusting_test_ca());
  ASSERT_EQ(client->greeting().rfind("+OK", 0), 0u) << client->greeting();
  const Pop3Response before = client->multiline("CAPA");
  ASSERT_TRUE(before.ok()) << before.status;
  EXPECT_NE(before.body.find("\r\nSTLS\r\n"), std::string::npos) << before.body;
  EXPECT_NE(before.body.find("\r\nUSER\r\n"), std::string::npos)
      << "a loopback client may log in in plaintext";

  EXPECT_EQ(client->stls(), "+OK Begin TLS negotiation now.");
  ASSERT_TRUE(client->secure());
  EXPECT_EQ(client->peer_certificate_der(), pem_certificate_der(certs().server_cert));
  const Pop3Response after = client->multiline("CAPA");
  ASSERT_TRUE(after.ok()) << after.status;
  EXPECT_EQ(after.body.find("STLS"), std::string::npos) << after.body;
  EXPECT_NE(after.body.find("\r\nUSER\r\n"), std::string::npos) << after.body;
  EXPECT_NE(after.body.find("\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n"), std::string::npos) << after.body;

  EXPECT_EQ(client->command("STLS").rfind("-ERR", 0), 0u) << "a second STLS inside TLS";
  EXPECT_EQ(client->login(kUser, kPassword).rfind("+OK", 0), 0u);
  EXPECT_EQ(client->command("STAT").rfind("+OK 2 ", 0), 0u);
  EXPECT_EQ(client->command("QUIT").rfind("+OK", 0), 0u);

  // An implicit-TLS session is secure from the start: nothing to upgrade.
  auto implicit = TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca());
  ASSERT_EQ(implicit->greeting().rfind("+OK", 0), 0u) << implicit->greeting();
  const Pop3Response capa = implicit->multiline("CAPA");
  ASSERT_TRUE(capa.ok()) << capa.status;
  EXPECT_EQ(capa.body.find("STLS"), std::string::npos) << capa.body;
  EXPECT_NE(capa.body.find("\r\nUSER\r\n"), std::string::npos) << capa.body;
  EXPECT_EQ(implicit->command("STLS").rfind("-ERR", 0), 0u) << "STLS on the implicit-TLS port";
  EXPECT_EQ(implicit->command("QUIT").rfind("+OK", 0), 0u);
}

TEST_F(TlsDownstream, StlsAfterLoginIsRefusedAndTheSessionGoesOn) {
  start_dovecot(make_small_corpus(2));
  start_tls_popgate();

  auto client = TlsPop3Client::plain(popgate_->port(), trusting_test_ca());
  ASSERT_EQ(client->login(kUser, kPassword).rfind("+OK", 0), 0u);
  const Pop3Response capa = client->multiline("CAPA");
  EXPECT_EQ(capa.body.find("STLS"), std::string::npos) << "RFC 2595 §4: STLS only in AUTHORIZATION\n"
                                                       << capa.body;
  const std::string stls = client->command("STLS");
  EXPECT_EQ(stls.rfind("-ERR", 0), 0u) << stls;
  EXPECT_FALSE(client->secure());
  EXPECT_EQ(client->command("STAT").rfind("+OK 2 ", 0), 0u) << "still in TRANSACTION, in plaintext";
  EXPECT_EQ(client->command("QUIT").rfind("+OK", 0), 0u);
}

TEST_F(TlsDownstream, WithoutACertificateThereIsNoStls) {
  popgate_ = std::make_unique<PopgateProcess>(free_port());
  auto client = TlsPop3Client::plain(popgate_->port(), trusting_test_ca());
  const Pop3Response capa = client->multiline("CAPA");
  ASSERT_TRUE(capa.ok()) << capa.status;
  EXPECT_EQ(capa.body.find("STLS"), std::string::npos) << capa.body;
  EXPECT_EQ(client->command("STLS").rfind("-ERR", 0), 0u);
  EXPECT_FALSE(client->secure());
}

// CVE-2011-0411: commands that came in plaintext together with STLS must not run inside TLS. The
// client sends them in the same write as STLS, then only the handshake.
TEST_F(TlsDownstream, PlaintextPipelinedAfterStlsIsDiscarded) {
  start_dovecot(make_small_corpus(2));
  start_tls_popgate();

  const auto login_pipelined =
      run_tls_dialog("127.0.0.1", popgate_->port(), certs().ca_cert,
                     {"greeting", "raw:STLS\\r\\nUSER alice\\r\\nPASS s3cret-pw\\r\\n", "line", "tls",
                      "cmd:PASS x", "cmd:USER alice", "cmd:PASS s3cret-pw", "cmd:STAT", "cmd:QUIT"});
  ASSERT_EQ(login_pipelined.size(), 9u) << ::testing::PrintToString(login_pipelined);
  EXPECT_EQ(login_pipelined[2], "+OK Begin TLS negotiation now.");
  EXPECT_EQ(login_pipelined[3].rfind("tls TLSv1.", 0), 0u) << login_pipelined[3];
  // Had the pipelined USER and PASS run, their "+OK" replies would come first.
  EXPECT_EQ(login_pipelined[4], "-ERR No username given.");
  EXPECT_EQ(login_pipelined[5], "+OK");
  EXPECT_EQ(login_pipelined[6].rfind("+OK", 0), 0u) << login_pipelined[6];
  EXPECT_EQ(login_pipelined[7].rfind("+OK 2 ", 0), 0u) << login_pipelined[7];
  EXPECT_EQ(login_pipelined[8].rfind("+OK", 0), 0u) << login_pipelined[8];

  const auto quit_pipelined = run_tls_dialog(
      "127.0.0.1", popgate_->port(), certs().ca_cert,
      {"greeting", "raw:STLS\\r\\nQUIT\\r\\n", "line", "tls", "multi:CAPA", "cmd:QUIT", "close"});
  ASSERT_EQ(quit_pipelined.size(), 7u) << ::testing::PrintToString(quit_pipelined);
  EXPECT_EQ(quit_pipelined[2], "+OK Begin TLS negotiation now.");
  EXPECT_EQ(quit_pipelined[3].rfind("tls TLSv1.", 0), 0u) << quit_pipelined[3];
  // Still open and in AUTHORIZATION: CAPA answers (with USER), not "+OK Logging out." and a close.
  EXPECT_EQ(quit_pipelined[4].rfind("+OK Capability list follows|", 0), 0u) << quit_pipelined[4];
  EXPECT_NE(quit_pipelined[4].find("|USER|"), std::string::npos) << quit_pipelined[4];
  EXPECT_EQ(quit_pipelined[5].rfind("+OK", 0), 0u) << quit_pipelined[5];
  EXPECT_EQ(quit_pipelined[6], "closed");

  // Only the one login that came through TLS reached the upstream.
  const std::string log = popgate_->log_text();
  EXPECT_EQ(popgate_events(log, "login").size(), 1u) << log;
  EXPECT_EQ(popgate_events(log, "login_failed").size(), 0u) << log;
}

}  // namespace
}  // namespace popgate::integration
