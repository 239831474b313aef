// popgate to a real Dovecot over TLS: imaps:// and STARTTLS verified against the test CA, the
// certificates it must refuse (and why, in its log), and --upstream-insecure.
#include <gtest/gtest.h>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

using TlsUpstream = TlsMailTest;

// Dovecot's line for a successful IMAP login: "imap-login: Info: Login: user=<alice>, ..., TLS, ...".
constexpr std::string_view kImapLogin = "imap-login: Info: Login: user=<alice>";

std::string imaps_url(const DovecotServer& dovecot, std::string_view host = "localhost") {
  return "imaps://" + std::string(host) + ":" + std::to_string(dovecot.imaps_port());
}

std::string starttls_url(const DovecotServer& dovecot, std::string_view host = "localhost") {
  return "imap://" + std::string(host) + ":" + std::to_string(dovecot.imap_port());
}

// Logs in through popgate and checks every message against Dovecot's own POP3.
void expect_same_messages_as_oracle(Pop3Client& through_popgate, Pop3Client& oracle, size_t count) {
  const Pop3Response want_uidl = oracle.multiline("UIDL");
  EXPECT_TRUE(same_bytes(want_uidl.body, through_popgate.multiline("UIDL").body)) << "UIDL";
  for (size_t n = 1; n <= count; ++n) {
    const Pop3Response want = oracle.multiline("RETR " + std::to_string(n));
    const Pop3Response got = through_popgate.multiline("RETR " + std::to_string(n));
    EXPECT_TRUE(got.ok()) << got.status;
    EXPECT_TRUE(same_bytes(want.body, got.body)) << "RETR " << n;
  }
}

class TlsUpstreamVerified : public TlsUpstream, public ::testing::WithParamInterface<std::string> {};

TEST_P(TlsUpstreamVerified, LoginAndRetrOverTlsVerifiedAgainstTheTestCa) {
  start_tls_dovecot(make_corpus({.include_large = true, .large_size = 512 * 1024, .small_count = 3}),
                    certs().server_cert, certs().server_key);
  // Harness check: a plaintext IMAP login is logged without "TLS".
  imap_uids();
  ASSERT_TRUE(wait_for_log_lines([this] { return dovecot_->log_text(); }, kImapLogin, 1));
  ASSERT_EQ(lines_with(dovecot_->log_text(), kImapLogin).find(", TLS"), std::string::npos)
      << lines_with(dovecot_->log_text(), kImapLogin);

  // imaps:// checks the name (DNS:localhost); STARTTLS checks the address (IP:127.0.0.1).
  const bool implicit = GetParam() == "imaps";
  const std::string upstream = implicit ? imaps_url(*dovecot_) : starttls_url(*dovecot_, "127.0.0.1");
  start_popgate({"--upstream-ca", certs().ca_cert}, {.upstream = upstream});
  auto client = popgate_login();
  auto oracle = oracle_login();
  expect_same_messages_as_oracle(*client, *oracle, corpus_.size());
  EXPECT_EQ(client->command("QUIT").rfind("+OK", 0), 0u);

  ASSERT_TRUE(wait_for_log_lines([this] { return dovecot_->log_text(); }, kImapLogin, 2));
  const std::string logins = lines_with(dovecot_->log_text(), kImapLogin);
  const std::string popgate_login_line = logins.substr(logins.find('\n') + 1);
  EXPECT_NE(popgate_login_line.find(", TLS"), std::string::npos) << "Dovecot's login lines:\n" << logins;
}

INSTANTIATE_TEST_SUITE_P(TlsUpstream, TlsUpstreamVerified, ::testing::Values("imaps", "starttls"),
                         [](const auto& info) { return info.param == "imaps" ? "Imaps" : "StartTls"; });

struct BadCertificate {
  std::string name;
  std::string TestCertificates::*cert;
  std::string TestCertificates::*key;
  std::string reason;  // X509_verify_cert_error_string() of the failed check
};

void PrintTo(const BadCertificate& bad, std::ostream* out) {
  *out << bad.name;
}

class TlsUpstreamRefused : public TlsUpstream, public ::testing::WithParamInterface<BadCertificate> {};

TEST_P(TlsUpstreamRefused, PassIsSysTempAndTheLogSaysWhy) {
  const BadCertificate& bad = GetParam();
  start_tls_dovecot(make_small_corpus(1), certs().*bad.cert, certs().*bad.key);

  for (const std::string& upstream : {imaps_url(*dovecot_), starttls_url(*dovecot_)}) {
    SCOPED_TRACE("--upstream " + upstream);
    start_popgate({"--upstream-ca", certs().ca_cert}, {.upstream = upstream});
    {
      Pop3Client client(popgate_->port());
      EXPECT_EQ(client.command("USER alice"), "+OK");
      const std::string pass = client.command("PASS " + std::string(kPassword));
      EXPECT_EQ(pass.rfind("-ERR [SYS/TEMP]", 0), 0u) << pass;
      EXPECT_EQ(client.command("QUIT").rfind("+OK", 0), 0u) << "the session goes on after the failure";
    }
    ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "login_failed", 1))
        << popgate_->log_text();
    // The X509 reason says which check failed.
    const auto failed = popgate_events(popgate_->log_text(), "login_failed");
    ASSERT_EQ(failed.size(), 1u) << joined(failed);
    const std::string reason = log_field(failed[0], "reason");
    EXPECT_TRUE(reason.ends_with("certificate verify failed: " + bad.reason)) << failed[0];
    if (upstream.starts_with("imaps:")) {
      // (Over STARTTLS the reason is the bare "certificate verify failed: ...", without this prefix.)
      EXPECT_TRUE(reason.starts_with("TLS with the upstream failed: ")) << failed[0];
    }
    popgate_.reset();
  }
  EXPECT_EQ(count_lines_with(dovecot_->log_text(), kImapLogin), 0u) << dovecot_->log_text();
}

INSTANTIATE_TEST_SUITE_P(
    TlsUpstream, TlsUpstreamRefused,
    ::testing::Values(BadCertificate{"WrongHost", &TestCertificates::wrong_host_cert,
                                     &TestCertificates::wrong_host_key, "Hostname mismatch"},
                      BadCertificate{"UnknownCa", &TestCertificates::unknown_ca_cert,
                                     &TestCertificates::unknown_ca_key,
                                     "unable to get local issuer certificate"},
                      BadCertificate{"Expired", &TestCertificates::expired_cert,
                                     &TestCertificates::expired_key, "certificate has expired"}),
    [](const auto& info) { return info.param.name; });

TEST_F(TlsUpstream, InsecureAcceptsACertificateFromAnUnknownCa) {
  start_tls_dovecot(make_small_corpus(3), certs().unknown_ca_cert, certs().unknown_ca_key);
  start_popgate({"--upstream-insecure"}, {.upstream = imaps_url(*dovecot_)});
  // Logged at start-up, just after the listeners open.
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "upstream_insecure", 1))
      << popgate_->log_text();
  const auto warning = popgate_events(popgate_->log_text(), "upstream_insecure");
  ASSERT_EQ(warning.size(), 1u) << "the start-up warning\n" << popgate_->log_text();
  EXPECT_NE(warning[0].find("warn"), std::string::npos) << warning[0];

  auto client = popgate_login();
  auto oracle = oracle_login();
  expect_same_messages_as_oracle(*client, *oracle, corpus_.size());
  EXPECT_EQ(client->command("QUIT").rfind("+OK", 0), 0u);
  ASSERT_TRUE(wait_for_log_lines([this] { return dovecot_->log_text(); }, kImapLogin, 1));
  EXPECT_NE(lines_with(dovecot_->log_text(), kImapLogin).find(", TLS"), std::string::npos)
      << dovecot_->log_text();
}

}  // namespace
}  // namespace popgate::integration
