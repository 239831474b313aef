// The response codes a user sees when something goes wrong: [AUTH], [SYS/TEMP], [IN-USE], a message
// expunged behind popgate's back; plus CAPA and the two ways to log in.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using SessionErrors = MailTest;

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += std::string{kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += std::string{kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

std::string plain_response(std::string_view user, std::string_view password) {
  return base64(std::string(1, '\0') + std::string(user) + std::string(1, '\0') + std::string(password));
}

TEST_F(SessionErrors, CapaListsWhatPopgateImplements) {
  start_dovecot({});
  start_popgate();
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.greeting().substr(0, 3), "+OK");
  const Pop3Response capa = gate.multiline("CAPA");
  ASSERT_TRUE(capa.ok()) << capa.status;
  for (const char* line : {"TOP\r\n", "UIDL\r\n", "RESP-CODES\r\n", "AUTH-RESP-CODE\r\n", "PIPELINING\r\n",
                           "USER\r\n", "SASL PLAIN XOAUTH2 OAUTHBEARER\r\n", "IMPLEMENTATION popgate"}) {
    const bool at_start = capa.body.rfind(line, 0) == 0;
    EXPECT_TRUE(at_start || capa.body.find("\r\n" + std::string(line)) != std::string::npos)
        << "CAPA lacks " << line << ": " << escape_bytes(capa.body);
  }
}

TEST_F(SessionErrors, WrongPasswordIsAuthAfterTheDelayAndTheConnectionStaysUsable) {
  start_dovecot(make_small_corpus(2));
  start_popgate({"--auth-failure-delay", "0.5"});
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.command("USER " + std::string(kUser)).substr(0, 3), "+OK");
  const auto started = std::chrono::steady_clock::now();
  const std::string refused = gate.command("PASS wrong-password");
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(refused.substr(0, 11), "-ERR [AUTH]") << refused;
  EXPECT_GE(waited, std::chrono::milliseconds(450)) << "the failure must be delayed by --auth-failure-delay";

  EXPECT_EQ(gate.login(kUser, kPassword).substr(0, 3), "+OK") << "retry on the same connection";
  EXPECT_EQ(gate.command("STAT").substr(0, 6), "+OK 2 ");
  EXPECT_EQ(gate.command("QUIT").substr(0, 3), "+OK");
}

TEST_F(SessionErrors, UnknownUserIsAuthToo) {
  start_dovecot({});
  start_popgate();
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.login("mallory", "guess").substr(0, 11), "-ERR [AUTH]");
}

TEST_F(SessionErrors, AuthPlainLogsIn) {
  start_dovecot(make_small_corpus(2));
  start_popgate();
  {
    Pop3Client gate(popgate_->port());
    EXPECT_EQ(gate.command("AUTH PLAIN " + plain_response(kUser, "wrong")).substr(0, 11), "-ERR [AUTH]");
    EXPECT_EQ(gate.command("AUTH PLAIN " + plain_response(kUser, kPassword)).substr(0, 3), "+OK");
    EXPECT_EQ(gate.command("STAT").substr(0, 6), "+OK 2 ");
    EXPECT_EQ(gate.command("QUIT").substr(0, 3), "+OK");
  }
  Pop3Client gate(popgate_->port());
  const std::string challenge = gate.command("AUTH PLAIN");
  EXPECT_EQ(challenge.substr(0, 1), "+") << "RFC 5034 empty challenge";
  EXPECT_EQ(gate.command(plain_response(kUser, kPassword)).substr(0, 3), "+OK");
  EXPECT_EQ(gate.command("STAT").substr(0, 6), "+OK 2 ");
}

TEST_F(SessionErrors, PasswordWithASpaceWorksLikeOnDovecot) {
  start_dovecot(make_small_corpus(1));
  start_popgate();
  ASSERT_EQ(oracle_login(kOtherUser, kOtherPassword)->command("QUIT").substr(0, 3), "+OK");
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.login(kOtherUser, kOtherPassword).substr(0, 3), "+OK");
}

TEST_F(SessionErrors, UpstreamDownIsSysTemp) {
  popgate_ =
      std::make_unique<PopgateProcess>(free_port(), std::vector<std::string>{"--auth-failure-delay", "0"});
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.greeting().substr(0, 3), "+OK");
  const std::string reply = gate.login(kUser, kPassword);
  EXPECT_EQ(reply.substr(0, 15), "-ERR [SYS/TEMP]") << reply;
}

TEST_F(SessionErrors, UpstreamStoppedAfterStartIsSysTemp) {
  start_dovecot(make_small_corpus(1));
  start_popgate();
  popgate_login()->command("QUIT");
  dovecot_->stop();
  Pop3Client gate(popgate_->port());
  const std::string reply = gate.login(kUser, kPassword);
  EXPECT_EQ(reply.substr(0, 15), "-ERR [SYS/TEMP]") << reply;
}

TEST_F(SessionErrors, SecondSessionForTheSameUserIsInUse) {
  start_dovecot(make_small_corpus(2));
  start_popgate();
  auto first = popgate_login();
  {
    Pop3Client second(popgate_->port());
    const std::string reply = second.login(kUser, kPassword);
    EXPECT_EQ(reply.substr(0, 13), "-ERR [IN-USE]") << reply;
  }
  EXPECT_EQ(popgate_login(kOtherUser, kOtherPassword)->command("QUIT").substr(0, 3), "+OK")
      << "another user is not affected";
  EXPECT_EQ(first->command("STAT").substr(0, 6), "+OK 2 ") << "the first session goes on";
  EXPECT_EQ(first->command("QUIT").substr(0, 3), "+OK");
  EXPECT_EQ(login_when_free(popgate_->port(), kUser, kPassword, std::chrono::seconds(10)).substr(0, 3), "+OK")
      << "the lock is released after QUIT";
}

TEST_F(SessionErrors, MessageExpungedUpstreamAfterLogin) {
  start_dovecot(make_small_corpus(4));
  start_popgate();
  const auto uids = imap_uids();
  auto gate = popgate_login();
  EXPECT_EQ(gate->command("STAT").substr(0, 6), "+OK 4 ");

  auto imap = imap_select();
  imap->expunge_uid(uids[1]);
  imap->logout();

  const Pop3Response gone = gate->multiline("RETR 2");
  EXPECT_EQ(gone.status.substr(0, 4), "-ERR") << gone.status;
  const Pop3Response next = gate->multiline("RETR 3");
  ASSERT_EQ(next.status.substr(0, 3), "+OK") << next.status;
  EXPECT_TRUE(same_bytes(corpus_[2].bytes, dot_unstuff(next.body)));
  EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(10)));
  EXPECT_EQ(imap_uids(), (std::vector<uint32_t>{uids[0], uids[2], uids[3]}));
}

}  // namespace
}  // namespace popgate::integration
