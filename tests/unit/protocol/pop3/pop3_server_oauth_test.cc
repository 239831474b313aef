// Tests for Pop3Server's AUTH XOAUTH2 and AUTH OAUTHBEARER (RFC 7628): both forms, the error
// challenge after a refused token, the TLS policy and the SASL line limit.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "protocol/pop3/pop3_server.h"
#include "protocol/sasl/base64.h"
#include "protocol/sasl/oauth_bearer.h"

namespace popgate::pop3 {
namespace {

using sasl::OAuthMechanism;

const std::vector<MessageListing> kListing = {{100, "uid-a"}};
constexpr std::string_view kToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";

std::string xoauth2(std::string_view user, std::string_view token) {
  return std::string(sasl::encode_xoauth2(user, SecretString(token)).reveal());
}
std::string oauthbearer(std::string_view user, std::string_view token) {
  return std::string(sasl::encode_oauthbearer(user, SecretString(token), "mail.example.com", "110").reveal());
}
std::string challenge(OAuthMechanism mechanism) {
  return "+ " + sasl::error_challenge(mechanism) + "\r\n";
}

// One event as text, so a whole exchange compares as one string.
std::string render(const Event& event) {
  if (const auto* reply = std::get_if<SendReply>(&event)) return reply->bytes;
  if (const auto* auth = std::get_if<Authenticate>(&event)) {
    return "[AUTH " + auth->mechanism + " " + auth->user + ":" + std::string(auth->password.reveal()) +
           (auth->bearer_token() ? " bearer]" : "]");
  }
  if (std::holds_alternative<Waiting>(event)) return "[WAIT]";
  if (std::holds_alternative<Close>(event)) return "[CLOSE]";
  if (std::holds_alternative<NeedInput>(event)) return "";
  return "[OTHER]";
}

class Pop3ServerOAuthTest : public ::testing::Test {
 protected:
  void start(Options options = {}) { server_ = std::make_unique<Pop3Server>(std::move(options)); }
  void SetUp() override { start(); }

  std::string drain() {
    std::string text;
    for (int guard = 0; guard < 1000; ++guard) {
      const Event event = server_->next_event();
      text += render(event);
      if (std::holds_alternative<NeedInput>(event) || std::holds_alternative<Waiting>(event) ||
          std::holds_alternative<Close>(event)) {
        return text;
      }
    }
    ADD_FAILURE() << "next_event() never settled";
    return text;
  }
  std::string send(std::string_view bytes) {
    server_->receive(bytes);
    return drain();
  }
  std::string capa() { return send("CAPA\r\n"); }

  std::unique_ptr<Pop3Server> server_;
};

const std::string kAuthenticated = "[AUTH XOAUTH2 alice:" + std::string(kToken) + " bearer][WAIT]";
const std::string kAuthenticatedBearer = "[AUTH OAUTHBEARER alice:" + std::string(kToken) + " bearer][WAIT]";

TEST_F(Pop3ServerOAuthTest, Xoauth2WithInitialResponse) {
  EXPECT_EQ(send("AUTH XOAUTH2 " + xoauth2("alice", kToken) + "\r\n"), kAuthenticated);
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "+OK Logged in.\r\n");
  EXPECT_EQ(server_->state(), State::Transaction);
}

TEST_F(Pop3ServerOAuthTest, Xoauth2WithContinuation) {
  EXPECT_EQ(send("AUTH XOAUTH2\r\n"), "+ \r\n");
  EXPECT_EQ(send(xoauth2("alice", kToken) + "\r\n"), kAuthenticated);
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "+OK Logged in.\r\n");
}

TEST_F(Pop3ServerOAuthTest, OauthbearerWithInitialResponse) {
  EXPECT_EQ(send("AUTH OAUTHBEARER " + oauthbearer("alice", kToken) + "\r\n"), kAuthenticatedBearer);
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "+OK Logged in.\r\n");
}

TEST_F(Pop3ServerOAuthTest, OauthbearerWithContinuationPipelined) {
  EXPECT_EQ(send("auth oauthbearer\r\n" + oauthbearer("alice", kToken) + "\r\nSTAT\r\n"),
            "+ \r\n" + kAuthenticatedBearer);
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "+OK Logged in.\r\n+OK 1 100\r\n");
}

TEST_F(Pop3ServerOAuthTest, RefusedTokenGetsTheErrorChallengeThenErr) {
  for (const OAuthMechanism mechanism : {OAuthMechanism::Xoauth2, OAuthMechanism::Oauthbearer}) {
    // Each acknowledgement a client may send: RFC 7628's ^A, XOAUTH2's empty line, a cancel,
    // and a line that would be a command: it is the acknowledgement, not executed.
    for (const std::string ack : {"AQ==", "", "*", "QUIT"}) {
      start();
      const std::string name = sasl::to_string(mechanism);
      const std::string response =
          mechanism == OAuthMechanism::Xoauth2 ? xoauth2("alice", kToken) : oauthbearer("alice", kToken);
      ASSERT_EQ(send("AUTH " + name + " " + response + "\r\n").substr(0, 6 + name.size()), "[AUTH " + name);
      server_->auth_failed(ErrorKind::Auth);
      EXPECT_EQ(drain(), challenge(mechanism)) << name;
      EXPECT_EQ(server_->state(), State::Authorization);
      EXPECT_EQ(send(ack + "\r\n"), "-ERR [AUTH] Authentication failed.\r\n") << name << " ack " << ack;
      EXPECT_EQ(server_->state(), State::Authorization) << "the session goes on";
      // Back to commands: the client may try again.
      EXPECT_EQ(send("AUTH " + name + " " + response + "\r\n").substr(0, 6 + name.size()), "[AUTH " + name);
    }
  }
}

TEST_F(Pop3ServerOAuthTest, ErrorChallengeAfterTheContinuationForm) {
  EXPECT_EQ(send("AUTH XOAUTH2\r\n" + xoauth2("alice", kToken) + "\r\n"), "+ \r\n" + kAuthenticated);
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(drain(), challenge(OAuthMechanism::Xoauth2));
  EXPECT_EQ(send("\r\n"), "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(send("NOOP\r\n"), "-ERR Unknown command in this state.\r\n");
}

TEST_F(Pop3ServerOAuthTest, OtherFailuresAnswerAtOnce) {
  const std::pair<ErrorKind, std::string> kCases[] = {
      {ErrorKind::Temporary, "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n"},
      {ErrorKind::LoginDelay, "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n"},
      {ErrorKind::InUse, "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"},
      {ErrorKind::Permanent, "-ERR [SYS/PERM] Mailbox unavailable.\r\n"},
  };
  for (const auto& [kind, answer] : kCases) {
    start();
    EXPECT_EQ(send("AUTH OAUTHBEARER " + oauthbearer("alice", kToken) + "\r\n"), kAuthenticatedBearer);
    server_->auth_failed(kind);
    EXPECT_EQ(drain(), answer);
    EXPECT_EQ(send("NOOP\r\n"), "-ERR Unknown command in this state.\r\n") << "no challenge in flight";
  }
}

TEST_F(Pop3ServerOAuthTest, PlainAfterAFailedOAuthGetsNoChallenge) {
  EXPECT_EQ(send("AUTH XOAUTH2 " + xoauth2("alice", kToken) + "\r\n"), kAuthenticated);
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(drain(), challenge(OAuthMechanism::Xoauth2));
  EXPECT_EQ(send("\r\n"), "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"), "[AUTH PLAIN bob:secret][WAIT]");
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(drain(), "-ERR [AUTH] Authentication failed.\r\n");
}

TEST_F(Pop3ServerOAuthTest, CancelledWithStar) {
  EXPECT_EQ(send("AUTH OAUTHBEARER\r\n*\r\n"), "+ \r\n-ERR Authentication cancelled.\r\n");
  EXPECT_EQ(send("AUTH XOAUTH2\r\n*\r\n"), "+ \r\n-ERR Authentication cancelled.\r\n");
  EXPECT_EQ(send("AUTH XOAUTH2 *\r\n"), "-ERR Invalid base64 data.\r\n")
      << "not a cancel as initial response";
}

TEST_F(Pop3ServerOAuthTest, MalformedResponsesAreBadCommands) {
  const std::string bad_xoauth2 = sasl::base64_encode(
      "user=alice\x01"
      "auth=Basic abc\x01\x01");
  const std::string no_user = sasl::base64_encode(
      "n,,\x01"
      "auth=Bearer abc\x01\x01");
  EXPECT_EQ(send("AUTH XOAUTH2 " + bad_xoauth2 + "\r\n"), "-ERR [AUTH] Invalid SASL XOAUTH2 response.\r\n");
  EXPECT_EQ(send("AUTH OAUTHBEARER " + no_user + "\r\n"),
            "-ERR [AUTH] OAUTHBEARER needs the user name in a=.\r\n");
  EXPECT_EQ(send("AUTH OAUTHBEARER\r\nAQ==\r\n"), "+ \r\n-ERR [AUTH] Invalid SASL OAUTHBEARER response.\r\n");
  // The "AUTH OAUTHBEARER" line itself was good; with the bad response that makes one in a row.
  // The fourth bad command in a row closes the session (3 allowed before login).
  EXPECT_EQ(send("AUTH XOAUTH2 !!!!\r\n"), "-ERR Invalid base64 data.\r\n");
  EXPECT_EQ(send("AUTH XOAUTH2 " + bad_xoauth2 + "\r\n"), "-ERR [AUTH] Invalid SASL XOAUTH2 response.\r\n");
  EXPECT_EQ(send("AUTH XOAUTH2 !!!!\r\n"),
            "-ERR Invalid base64 data.\r\n-ERR Too many bad commands.\r\n[CLOSE]");
}

TEST_F(Pop3ServerOAuthTest, AdvertisedOnlyWherePlaintextAuthIsAllowed) {
  EXPECT_NE(capa().find("\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n"), std::string::npos);
  EXPECT_EQ(send("AUTH\r\n"), "+OK\r\nPLAIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n");

  Options options;
  options.plaintext_auth_allowed = false;
  options.stls_offered = true;
  start(options);
  EXPECT_EQ(capa().find("XOAUTH2"), std::string::npos);
  EXPECT_EQ(send("AUTH\r\n"), "+OK\r\n.\r\n");
  const std::string refused =
      "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections. Use STLS first.\r\n";
  EXPECT_EQ(send("AUTH XOAUTH2 " + xoauth2("alice", kToken) + "\r\n"), refused);
  EXPECT_EQ(send("AUTH OAUTHBEARER\r\n"), refused) << "refused before the token is sent";
  EXPECT_EQ(send("STLS\r\n"), "+OK Begin TLS negotiation now.\r\n[OTHER][WAIT]");
  server_->tls_started();
  EXPECT_NE(capa().find("\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n"), std::string::npos);
  EXPECT_EQ(send("AUTH XOAUTH2 " + xoauth2("alice", kToken) + "\r\n"), kAuthenticated);
}

// A token as long as the SASL line limit allows: the line, CRLF included, is exactly the limit.
std::string token_for_line(size_t line_length, size_t overhead_without_token) {
  // base64 grows by 4/3; find the longest token whose encoded line fits.
  size_t token_length = (line_length - overhead_without_token) * 3 / 4;
  for (;;) {
    const std::string line = xoauth2("alice", std::string(token_length, 'T'));
    if (line.size() + overhead_without_token <= line_length) return std::string(token_length, 'T');
    --token_length;
  }
}

TEST_F(Pop3ServerOAuthTest, SixteenKibibyteLinesAreAccepted) {
  const size_t limit = Limits{}.max_sasl_line;
  ASSERT_EQ(limit, 16u * 1024);
  // The continuation form: the line is the base64 response and CRLF.
  std::string token = token_for_line(limit, 2);
  std::string line = xoauth2("alice", token) + "\r\n";
  ASSERT_GT(line.size(), limit - 4);
  ASSERT_LE(line.size(), limit);
  EXPECT_EQ(send("AUTH XOAUTH2\r\n" + line), "+ \r\n[AUTH XOAUTH2 alice:" + token + " bearer][WAIT]");

  // The initial-response form: "AUTH XOAUTH2 " on the same line.
  start();
  token = token_for_line(limit, 2 + 13);
  line = "AUTH XOAUTH2 " + xoauth2("alice", token) + "\r\n";
  ASSERT_GT(line.size(), limit - 4);
  ASSERT_LE(line.size(), limit);
  EXPECT_EQ(send(line), "[AUTH XOAUTH2 alice:" + token + " bearer][WAIT]");
}

TEST_F(Pop3ServerOAuthTest, LinesOverTheLimitAreRefusedCleanly) {
  const size_t limit = Limits{}.max_sasl_line;
  const std::string response(3 * limit, 'A');  // far too long
  // One octet over: refused; at the limit, the line is read (and is no valid response).
  EXPECT_EQ(send("AUTH XOAUTH2\r\n" + std::string(limit - 1, 'A') + "\r\n"), "+ \r\n-ERR Line too long.\r\n");
  EXPECT_EQ(send("AUTH XOAUTH2\r\n" + std::string(limit - 2, 'A') + "\r\n"),
            "+ \r\n-ERR Invalid base64 data.\r\n");
  // Continuation form, sent in pieces: refused as soon as the limit is passed, the rest skipped.
  EXPECT_EQ(send("AUTH XOAUTH2\r\n"), "+ \r\n");
  EXPECT_EQ(send(response.substr(0, limit / 2)), "");
  EXPECT_EQ(send(response.substr(limit / 2, limit)), "-ERR Line too long.\r\n");
  EXPECT_EQ(send(response.substr(limit / 2 + limit) + "\r\nCAPA\r\n").substr(0, 4), "+OK ")
      << "resynchronised on the LF; back to commands";
  // Initial-response form, in one piece.
  EXPECT_EQ(send("AUTH OAUTHBEARER " + response + "\r\n"), "-ERR Line too long.\r\n");
  // Other commands keep the 512-octet limit.
  EXPECT_EQ(send("USER " + std::string(600, 'u') + "\r\n"), "-ERR Line too long.\r\n");
}

TEST_F(Pop3ServerOAuthTest, IdleTimeoutDuringTheChallengeEndsTheSession) {
  EXPECT_EQ(send("AUTH OAUTHBEARER " + oauthbearer("alice", kToken) + "\r\n"), kAuthenticatedBearer);
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(drain(), challenge(OAuthMechanism::Oauthbearer));
  server_->idle_timeout();
  EXPECT_EQ(drain(), "-ERR Disconnected for inactivity.\r\n[CLOSE]");
}

}  // namespace
}  // namespace popgate::pop3
