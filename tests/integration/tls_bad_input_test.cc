// What is not a TLS handshake on popgate's TLS paths: garbage is dropped at once, a ClientHello that
// stops halfway is dropped at the handshake timeout, and popgate serves the next session.
#include <gtest/gtest.h>

#include "tests/integration/support/buffered_socket.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

using Clock = std::chrono::steady_clock;

// --tls-handshake-timeout in these tests.
constexpr auto kHandshakeTimeout = std::chrono::seconds(1);
// Far below the handshake timeout: "at once", not "when the timer fired".
constexpr auto kPrompt = std::chrono::milliseconds(500);

// Bytes no TLS server can take for a record: a POP3 command, then binary noise.
std::string garbage() {
  std::string bytes = "USER alice\r\nPASS s3cret-pw\r\n";
  for (int i = 0; i < 300; ++i) bytes += static_cast<char>((i * 73 + 11) & 0xff);
  return bytes;
}

class TlsBadInput : public TlsMailTest {
 protected:
  void SetUp() override {
    TlsMailTest::SetUp();
    if (HasFatalFailure()) return;
    start_dovecot(make_small_corpus(1));
    start_tls_popgate({"--tls-handshake-timeout", std::to_string(kHandshakeTimeout.count())});
  }

  // popgate is still up and a proper implicit-TLS session logs in.
  void expect_next_session_works() {
    ASSERT_TRUE(popgate_->running()) << popgate_->log_text();
    auto client = TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca());
    EXPECT_EQ(client->greeting().rfind("+OK", 0), 0u) << client->greeting();
    EXPECT_EQ(client->login(kUser, kPassword).rfind("+OK", 0), 0u);
    EXPECT_EQ(client->command("STAT").rfind("+OK 1 ", 0), 0u);
    EXPECT_EQ(client->command("QUIT").rfind("+OK", 0), 0u);
  }
};

TEST_F(TlsBadInput, GarbageOnTheImplicitTlsPortIsDroppedAtOnce) {
  BufferedSocket socket(popgate_->tls_port(), std::chrono::seconds(10));
  const auto start = Clock::now();
  socket.write_all(garbage());
  std::string received;
  EXPECT_TRUE(socket.wait_for_close(std::chrono::seconds(5), &received));
  const auto elapsed = Clock::now() - start;
  EXPECT_LT(elapsed, kPrompt) << "closed after "
                              << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                              << " ms";
  EXPECT_EQ(received.find("+OK"), std::string::npos) << "no POP3 in the clear on the TLS port";
  EXPECT_EQ(popgate_events(popgate_->log_text(), "login").size(), 0u);
  expect_next_session_works();
}

TEST_F(TlsBadInput, TruncatedClientHelloIsDroppedAtTheHandshakeTimeout) {
  const std::string hello = make_client_hello("localhost");
  ASSERT_GT(hello.size(), 100u);
  BufferedSocket socket(popgate_->tls_port(), std::chrono::seconds(10));
  const auto start = Clock::now();
  socket.write_all(hello.substr(0, hello.size() / 2));
  EXPECT_TRUE(socket.wait_for_close(kHandshakeTimeout + std::chrono::seconds(3)));
  const auto elapsed = Clock::now() - start;
  // Half a record is not an error yet: only the timer ends it.
  EXPECT_GE(elapsed, kHandshakeTimeout - std::chrono::milliseconds(200))
      << "closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms";
  // (The line comes just after the close.)
  EXPECT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "tls_failed", 1, "timed out"))
      << popgate_->log_text();
  expect_next_session_works();
}

TEST_F(TlsBadInput, GarbageInsteadOfTheHandshakeAfterStlsIsDroppedAtOnce) {
  Pop3Client client(popgate_->port());
  EXPECT_EQ(client.command("STLS"), "+OK Begin TLS negotiation now.");
  const auto start = Clock::now();
  client.send_raw(garbage());
  std::string received;
  EXPECT_TRUE(client.wait_for_close(std::chrono::seconds(5), &received));
  const auto elapsed = Clock::now() - start;
  EXPECT_LT(elapsed, kPrompt) << "closed after "
                              << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                              << " ms";
  EXPECT_EQ(received.find("+OK"), std::string::npos) << "the USER in the garbage must not be answered";
  EXPECT_EQ(popgate_events(popgate_->log_text(), "login").size(), 0u);
  expect_next_session_works();
}

}  // namespace
}  // namespace popgate::integration
