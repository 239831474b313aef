// SIGHUP reloads --tls-cert/--tls-key: new sessions get the new certificate, live TLS sessions go
// on, and a bad new file keeps the certificate in use.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;
using TlsReload = TlsMailTest;

// Replaces `target` with a copy of `source` in one rename, as a deployment tool would.
void install_file(const std::string& source, const fs::path& target) {
  const fs::path staging = target.string() + ".new";
  write_file(staging, read_file(source));
  fs::rename(staging, target);
}

TEST_F(TlsReload, SighupGivesNewSessionsTheNewCertificateAndLiveSessionsGoOn) {
  start_dovecot(make_small_corpus(2));
  TempDir dir("tls-reload");
  const fs::path cert = dir / "popgate.pem";
  const fs::path key = dir / "popgate.key";
  install_file(certs().server_cert, cert);
  install_file(certs().server_key, key);
  start_tls_popgate({}, {}, cert.string(), key.string());
  auto log = [this] { return popgate_->log_text(); };

  // The second certificate: another serial and issuer (an intermediate CA, sent along with it).
  const std::string first = pem_certificate_der(certs().server_cert);
  const std::string second = pem_certificate_der(certs().chain_cert);
  ASSERT_NE(first, second);

  auto session_a = TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca());
  ASSERT_EQ(session_a->peer_certificate_der(), first);
  ASSERT_EQ(session_a->login(kUser, kPassword).rfind("+OK", 0), 0u);
  auto session_a_stls = TlsPop3Client::plain(popgate_->port(), trusting_test_ca());
  ASSERT_EQ(session_a_stls->stls(), "+OK Begin TLS negotiation now.");
  ASSERT_EQ(session_a_stls->peer_certificate_der(), first);

  install_file(certs().chain_cert, cert);
  install_file(certs().chain_key, key);
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events(log, "tls_reloaded", 1)) << log();

  auto implicit_b = TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca());
  EXPECT_EQ(implicit_b->peer_certificate_der(), second) << "a new implicit-TLS session after SIGHUP";
  EXPECT_EQ(implicit_b->greeting().rfind("+OK", 0), 0u);
  auto stls_b = TlsPop3Client::plain(popgate_->port(), trusting_test_ca());
  EXPECT_EQ(stls_b->stls(), "+OK Begin TLS negotiation now.");
  EXPECT_EQ(stls_b->peer_certificate_der(), second) << "a new STLS session after SIGHUP";

  // The sessions from before the reload still work, on their first certificate.
  EXPECT_EQ(session_a->command("NOOP").rfind("+OK", 0), 0u);
  const Pop3Response retr = session_a->multiline("RETR 1");
  EXPECT_TRUE(retr.ok()) << retr.status;
  EXPECT_EQ(session_a->command("QUIT").rfind("+OK", 0), 0u);
  EXPECT_TRUE(session_a->wait_for_close(std::chrono::seconds(5)));
  EXPECT_EQ(session_a_stls->login(kOtherUser, kOtherPassword).rfind("+OK", 0), 0u);
  EXPECT_EQ(session_a_stls->command("QUIT").rfind("+OK", 0), 0u);

  // A file that is no certificate: the reload fails and the second certificate stays.
  install_file(certs().garbage, cert);
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events(log, "tls_reload_failed", 1)) << log();
  EXPECT_NE(log_field(popgate_events(log(), "tls_reload_failed")[0], "reason"), "") << log();
  auto after_garbage = TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca());
  EXPECT_EQ(after_garbage->peer_certificate_der(), second);
  EXPECT_EQ(after_garbage->login(kUser, kPassword).rfind("+OK", 0), 0u);
  EXPECT_EQ(after_garbage->command("QUIT").rfind("+OK", 0), 0u);

  // A valid certificate with a key that does not belong to it: refused the same way.
  install_file(certs().server_cert, cert);
  install_file(certs().other_key, key);
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events(log, "tls_reload_failed", 2)) << log();
  auto after_mismatch = TlsPop3Client::plain(popgate_->port(), trusting_test_ca());
  EXPECT_EQ(after_mismatch->stls(), "+OK Begin TLS negotiation now.");
  EXPECT_EQ(after_mismatch->peer_certificate_der(), second);

  EXPECT_EQ(popgate_events(log(), "tls_reloaded").size(), 1u) << log();
  EXPECT_TRUE(popgate_->running());
}

}  // namespace
}  // namespace popgate::integration
