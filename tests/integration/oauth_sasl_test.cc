// POP3 AUTH XOAUTH2 and OAUTHBEARER end to end: a POP3 client's bearer token goes through popgate
// to a real Dovecot whose oauth2 passdb validates it (local JWT validation), and the messages come
// back byte for byte; tokens Dovecot refuses (expired, bad signature, another user's) reach the
// client as the RFC 7628 error challenge, then -ERR [AUTH] after its answer.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "protocol/sasl/base64.h"
#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/corpus.h"
#include "tests/integration/support/dovecot_oauth_server.h"
#include "tests/integration/support/pop3_client.h"
#include "tests/integration/support/popgate_process.h"

namespace popgate::integration {
namespace {

constexpr std::string_view kUser = "alice";
constexpr std::string_view kOtherUser = "bob";

std::string tail(const std::string& text, size_t max = 4000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

struct Login {
  std::string mechanism;  // "XOAUTH2" or "OAUTHBEARER"
  bool initial_response;  // on the AUTH line, or after the "+ " continuation
};

std::string login_name(const ::testing::TestParamInfo<Login>& info) {
  return info.param.mechanism + (info.param.initial_response ? "_InitialResponse" : "_Continuation");
}

class OAuthSasl : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<DovecotOAuthServer>();
    server_->dovecot().add_user(kUser, "alice-password");
    server_->dovecot().add_user(kOtherUser, "bob-password");
    corpus_ = make_small_corpus(3);
    server_->dovecot().deliver_all(kUser, corpus_);
    server_->dovecot().start();
    popgate_ = std::make_unique<PopgateProcess>(server_->dovecot().imap_port(),
                                                std::vector<std::string>{"--auth-failure-delay", "0"});
  }
  void TearDown() override {
    if (!HasFailure()) return;
    if (popgate_) std::cerr << "---- popgate stderr (tail) ----\n" << tail(popgate_->log_text()) << "\n";
    if (server_) std::cerr << "---- dovecot log (tail) ----\n" << tail(server_->dovecot().log_text()) << "\n";
  }

  static std::string response(const Login& login, std::string_view user, std::string_view token) {
    return login.mechanism == "XOAUTH2" ? xoauth2_response(user, token) : oauthbearer_response(user, token);
  }

  // Sends AUTH in the form `login` names and returns popgate's answer to the response.
  static std::string authenticate(Pop3Client& client, const Login& login, std::string_view user,
                                  std::string_view token) {
    const std::string initial = response(login, user, token);
    if (login.initial_response) return client.command("AUTH " + login.mechanism + " " + initial);
    const std::string go_ahead = client.command("AUTH " + login.mechanism);
    if (go_ahead != "+ ") return go_ahead;
    return client.command(initial);
  }

  std::string expected_stat() const {
    size_t octets = 0;
    for (const auto& message : corpus_) octets += message.bytes.size();
    return "+OK " + std::to_string(corpus_.size()) + " " + std::to_string(octets);
  }

  // STAT, then every message by RETR, compared with the stored bytes.
  void expect_whole_mailbox(Pop3Client& client) {
    EXPECT_EQ(client.command("STAT"), expected_stat());
    for (size_t n = 1; n <= corpus_.size(); ++n) {
      SCOPED_TRACE("RETR " + std::to_string(n));
      const Pop3Response retr = client.multiline("RETR " + std::to_string(n));
      ASSERT_TRUE(retr.ok()) << retr.status;
      EXPECT_EQ(first_number(retr.status), corpus_[n - 1].bytes.size()) << retr.status;
      EXPECT_TRUE(same_bytes(corpus_[n - 1].bytes, dot_unstuff(retr.body)));
      // The corpus has a line starting with "." : stuffed on the wire (RFC 1939 §3).
      EXPECT_NE(retr.body.find("\r\n..and a dot line\r\n"), std::string::npos) << escape_bytes(retr.body);
    }
  }

  std::unique_ptr<DovecotOAuthServer> server_;
  std::unique_ptr<PopgateProcess> popgate_;
  std::vector<CorpusMessage> corpus_;
};

class OAuthSaslLogin : public OAuthSasl, public ::testing::WithParamInterface<Login> {};

TEST_P(OAuthSaslLogin, ValidTokenReadsTheMailboxThroughPopgate) {
  Pop3Client client(popgate_->port());
  const std::string token = server_->minter().mint(kUser);
  ASSERT_EQ(authenticate(client, GetParam(), kUser, token).substr(0, 3), "+OK");
  expect_whole_mailbox(client);
  EXPECT_EQ(client.command("QUIT").substr(0, 3), "+OK");
  // The token never reaches popgate's log.
  EXPECT_EQ(popgate_->log_text().find(token), std::string::npos);
  EXPECT_EQ(popgate_->log_text().find(token.substr(token.rfind('.') + 1)), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Mechanisms, OAuthSaslLogin,
                         ::testing::Values(Login{"XOAUTH2", true}, Login{"XOAUTH2", false},
                                           Login{"OAUTHBEARER", true}, Login{"OAUTHBEARER", false}),
                         login_name);

TEST_F(OAuthSasl, Rs256TokenIsAcceptedToo) {
  Pop3Client client(popgate_->port());
  const std::string token = server_->minter().mint(kUser, TokenFlaw::None, JwtAlgorithm::Rs256);
  ASSERT_EQ(authenticate(client, Login{"XOAUTH2", true}, kUser, token).substr(0, 3), "+OK");
  expect_whole_mailbox(client);
}

TEST_F(OAuthSasl, Rs256TokenWithABadSignatureIsRefused) {
  Pop3Client client(popgate_->port());
  const std::string token = server_->minter().mint(kUser, TokenFlaw::BadSignature, JwtAlgorithm::Rs256);
  ASSERT_EQ(authenticate(client, Login{"OAUTHBEARER", true}, kUser, token),
            "+ " + sasl::base64_encode(R"({"status":"invalid_token"})"));
  EXPECT_EQ(client.command("AQ==").substr(0, 11), "-ERR [AUTH]");
}

TEST_F(OAuthSasl, TokenSentAsAPasswordIsRefused) {
  // Dovecot's passwd-file passdb takes passwords only: popgate must not turn USER/PASS into a
  // token login on its own.
  Pop3Client client(popgate_->port());
  EXPECT_EQ(client.login(kUser, server_->minter().mint(kUser)).substr(0, 10), "-ERR [AUTH");
}

// A token Dovecot refuses, in each mechanism and form.
struct Refusal {
  Login login;
  std::string what;  // "Expired", "BadSignature", "OtherUser"
};

class OAuthSaslRefusal : public OAuthSasl, public ::testing::WithParamInterface<Refusal> {};

TEST_P(OAuthSaslRefusal, RefusedTokenGetsTheErrorChallengeThenAuth) {
  const Refusal& refusal = GetParam();
  const JwtMinter& minter = server_->minter();
  // "OtherUser": a valid token, but for bob, presented as alice.
  const std::string token = refusal.what == "Expired"        ? minter.mint(kUser, TokenFlaw::Expired)
                            : refusal.what == "BadSignature" ? minter.mint(kUser, TokenFlaw::BadSignature)
                                                             : minter.mint(kOtherUser);
  Pop3Client client(popgate_->port());
  const std::string challenge = authenticate(client, refusal.login, kUser, token);
  // RFC 7628 §3.2.2 (OAUTHBEARER) and Google's XOAUTH2 form: the error JSON, base64, after "+ ".
  const std::string json = refusal.login.mechanism == "XOAUTH2" ? R"({"status":"401","schemes":"bearer"})"
                                                                : R"({"status":"invalid_token"})";
  ASSERT_EQ(challenge, "+ " + sasl::base64_encode(json));
  // RFC 7628 §3.2.3: the client acknowledges (^A for OAUTHBEARER, empty for XOAUTH2).
  const std::string answer = refusal.login.mechanism == "XOAUTH2" ? "" : "AQ==";
  EXPECT_EQ(client.command(answer).substr(0, 11), "-ERR [AUTH]");
  // The session goes on: a good token now logs in.
  ASSERT_EQ(authenticate(client, refusal.login, kUser, minter.mint(kUser)).substr(0, 3), "+OK");
  EXPECT_EQ(client.command("STAT"), expected_stat());
  // It was Dovecot that refused, with its tagged NO after popgate's acknowledgement.
  EXPECT_NE(popgate_->log_text().find("AUTHENTICATIONFAILED"), std::string::npos);
}

std::string refusal_name(const ::testing::TestParamInfo<Refusal>& info) {
  return info.param.what + "_" + login_name({info.param.login, info.index});
}

INSTANTIATE_TEST_SUITE_P(Tokens, OAuthSaslRefusal,
                         ::testing::Values(Refusal{{"XOAUTH2", true}, "Expired"},
                                           Refusal{{"OAUTHBEARER", false}, "Expired"},
                                           Refusal{{"XOAUTH2", false}, "BadSignature"},
                                           Refusal{{"OAUTHBEARER", true}, "BadSignature"},
                                           Refusal{{"XOAUTH2", true}, "OtherUser"},
                                           Refusal{{"OAUTHBEARER", true}, "OtherUser"}),
                         refusal_name);

}  // namespace
}  // namespace popgate::integration
