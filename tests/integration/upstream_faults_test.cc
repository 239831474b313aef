// What a POP3 user sees when the IMAP upstream misbehaves in ways a real Dovecot won't: a silent
// banner, a connection dropped after login, a message cut off in the middle of its literal.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/fake_imap_server.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

class UpstreamFaults : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && popgate_) std::cerr << "---- popgate stderr ----\n" << popgate_->log_text() << "\n";
  }
  std::unique_ptr<PopgateProcess> popgate_;
};

TEST_F(UpstreamFaults, SilentBannerIsSysTempAfterTheUpstreamTimeout) {
  FakeImapServer upstream({.send_greeting = false});
  popgate_ = std::make_unique<PopgateProcess>(
      upstream.port(), std::vector<std::string>{"--upstream-timeout", "1", "--auth-failure-delay", "0"});
  Pop3Client gate(popgate_->port());
  const auto started = std::chrono::steady_clock::now();
  const std::string reply = gate.login(kUser, kPassword);
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(reply.substr(0, 15), "-ERR [SYS/TEMP]") << reply;
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::seconds(10));
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_EQ(gate.command("NOOP").substr(0, 4), "-ERR") << "not logged in";
}

TEST_F(UpstreamFaults, ConnectionDroppedAfterLoginIsSysTemp) {
  FakeImapServer upstream({.drop_after_login = true});
  popgate_ = std::make_unique<PopgateProcess>(upstream.port(),
                                              std::vector<std::string>{"--auth-failure-delay", "0"});
  Pop3Client gate(popgate_->port());
  const std::string reply = gate.login(kUser, kPassword);
  EXPECT_EQ(reply.substr(0, 15), "-ERR [SYS/TEMP]") << reply;
}

TEST_F(UpstreamFaults, MessageCutOffMidLiteralNeverLooksComplete) {
  FakeImapServer upstream({.message_size = 256 * 1024, .body_bytes_before_drop = 100 * 1024});
  popgate_ = std::make_unique<PopgateProcess>(upstream.port(),
                                              std::vector<std::string>{"--auth-failure-delay", "0"});
  Pop3Client gate(popgate_->port());
  ASSERT_EQ(gate.login(kUser, kPassword).substr(0, 3), "+OK");
  EXPECT_EQ(gate.command("LIST 1"), "+OK 1 262144");
  gate.send_raw("RETR 1\r\n");
  const std::string status = gate.read_status_line();
  if (status.rfind("-ERR", 0) == 0) {
    SUCCEED() << "refused before any data: " << status;
    return;
  }
  ASSERT_EQ(status.substr(0, 3), "+OK") << status;
  // After +OK the only honest signal is closing the connection without the terminating ".".
  std::string rest;
  EXPECT_TRUE(gate.wait_for_close(std::chrono::seconds(15), &rest))
      << "popgate kept the connection open after a truncated message";
  EXPECT_EQ(upstream.body_fetches(), 1);
  EXPECT_EQ(rest.find("\r\n.\r\n"), std::string::npos)
      << "a truncated message was terminated like a complete one (" << rest.size() << " bytes)";
  EXPECT_LE(rest.size(), 100u * 1024 + 4096) << "more bytes than the upstream sent";
}

}  // namespace
}  // namespace popgate::integration
