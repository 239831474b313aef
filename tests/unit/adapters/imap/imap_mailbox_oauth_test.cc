// ImapMailbox presenting a bearer token against a ScriptedImapServer: AUTHENTICATE XOAUTH2 and
// OAUTHBEARER with SASL-IR and in the continuation form, the RFC 7628 error challenge and its
// acknowledgement, and the upstream answers a token login can get. The exact bytes are asserted
// here; tests/integration/oauth_sasl_test.cc runs the same exchanges against a real Dovecot.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/imap/imap_mailbox.h"
#include "tests/unit/adapters/imap/scripted_imap_server.h"

namespace popgate {
namespace {

using namespace std::chrono_literals;
using testing::ImapCommandLine;
using testing::ScriptedImapServer;
using testing::split_command;
using Commands = std::vector<std::string>;

constexpr std::string_view kToken = "ya29.a0-token";
// base64("user=alice" ^A "auth=Bearer ya29.a0-token" ^A ^A)
constexpr std::string_view kXoauth2Response = "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB5YTI5LmEwLXRva2VuAQE=";
// base64("n,a=alice," ^A "auth=Bearer ya29.a0-token" ^A ^A), RFC 7628 §3.1
constexpr std::string_view kOauthbearerResponse = "bixhPWFsaWNlLAFhdXRoPUJlYXJlciB5YTI5LmEwLXRva2VuAQE=";
// What Dovecot sends for a refused token: base64 of {"status":"401","schemes":"bearer","scope":"mail"}
// (XOAUTH2) and {"status":"invalid_token"} (OAUTHBEARER, RFC 7628 §3.2.2).
constexpr std::string_view kXoauth2Error =
    "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=";
constexpr std::string_view kOauthbearerError = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=";

// An upstream that takes tokens the way Dovecot's oauth2 passdb does: the SASL response on the
// command line (SASL-IR) or after "+ ", then OK, or the error challenge, the client's
// acknowledgement and a tagged NO.
struct TokenUpstream {
  std::string capabilities = "IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER";
  bool accept = true;
  std::string error_challenge{kXoauth2Error};
  // When set, the answer to the AUTHENTICATE command (or to its response) instead of the above.
  std::string login_reply;

  std::string authenticating;          // the tag of the AUTHENTICATE in progress
  bool challenged = false;             // the error challenge went out; the next line is the acknowledgement
  std::vector<std::string> responses;  // SASL client lines after the command line, in order

  std::string answer(const std::string& line) {
    if (!authenticating.empty()) {
      responses.push_back(line);
      if (challenged)
        return std::exchange(authenticating, "") + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n";
      return verdict();
    }
    ImapCommandLine command = split_command(line);
    if (command.name == "AUTHENTICATE") {
      authenticating = command.tag;
      // "XOAUTH2 <response>" with SASL-IR, "XOAUTH2" alone without.
      if (command.args.find(' ') == std::string::npos) return "+ \r\n";
      return verdict();
    }
    const std::string ok = command.tag + " OK done\r\n";
    if (command.name == "CAPABILITY") return "* CAPABILITY " + capabilities + "\r\n" + ok;
    if (command.name == "SELECT") return "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n" + ok;
    if (command.name == "UID FETCH") return "* 1 FETCH (UID 4 RFC822.SIZE 10)\r\n" + ok;
    if (command.name == "LOGOUT") return "* BYE bye\r\n" + ok;
    return ok;
  }

  std::string verdict() {
    if (!login_reply.empty()) return std::exchange(authenticating, "") + " " + login_reply + "\r\n";
    if (accept) return std::exchange(authenticating, "") + " OK Logged in\r\n";
    challenged = true;
    return "+ " + error_challenge + "\r\n";
  }
};

template <typename T>
std::string outcome(const std::optional<Result<T>>& result) {
  if (!result) return "no callback";
  return result->ok() ? "ok" : to_string(result->error().kind);
}

template <typename T>
std::string detail(const std::optional<Result<T>>& result) {
  return result && !result->ok() ? result->error().detail : "";
}

class ImapMailboxOAuthTest : public ::testing::Test {
 protected:
  void serve() {
    server_ = std::make_unique<ScriptedImapServer>(
        loop_, "* OK [CAPABILITY " + upstream_.capabilities + "] ready\r\n",
        [this](const std::string& line) { return upstream_.answer(line); });
    settings_.host = "127.0.0.1";
    settings_.port = server_->port();
    settings_.tls = UpstreamTls::None;
  }

  // Opens with a bearer token the client presented with `mechanism`; runs until the callback.
  std::optional<Result<Snapshot>> open(const std::string& mechanism) {
    mailbox_ = std::make_unique<ImapMailbox>(loop_, settings_);
    std::optional<Result<Snapshot>> result;
    mailbox_->open(
        Credentials{mechanism, "alice", SecretString(std::string(kToken)), CredentialKind::BearerToken},
        [&result](Result<Snapshot> r) { result.emplace(std::move(r)); });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!result && std::chrono::steady_clock::now() < deadline) {
      loop_.run_nowait();
      std::this_thread::sleep_for(200us);
    }
    return result;
  }

  // Every line the server received, tags stripped from commands (not from SASL lines).
  Commands lines() const {
    Commands out;
    for (const auto& line : server_->commands()) {
      const ImapCommandLine command = split_command(line);
      out.push_back(command.name.empty() || line.find(' ') == std::string::npos
                        ? line
                        : line.substr(command.tag.size() + 1));
    }
    return out;
  }

  io::Loop loop_;
  ImapSettings settings_;
  TokenUpstream upstream_;
  std::unique_ptr<ScriptedImapServer> server_;
  std::unique_ptr<ImapMailbox> mailbox_;
};

TEST_F(ImapMailboxOAuthTest, Xoauth2WithSaslIr) {
  serve();
  auto snapshot = open("XOAUTH2");
  ASSERT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  EXPECT_EQ(server_->commands()[0], "p1 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2Response));
  EXPECT_EQ(lines(), (Commands{"AUTHENTICATE XOAUTH2 " + std::string(kXoauth2Response), "CAPABILITY",
                               "SELECT INBOX", "UID FETCH 1:* (UID RFC822.SIZE)"}));
  EXPECT_EQ(snapshot->value().messages.size(), 1u);
}

TEST_F(ImapMailboxOAuthTest, OauthbearerWithSaslIr) {
  serve();
  auto snapshot = open("OAUTHBEARER");
  ASSERT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  EXPECT_EQ(server_->commands()[0], "p1 AUTHENTICATE OAUTHBEARER " + std::string(kOauthbearerResponse));
}

TEST_F(ImapMailboxOAuthTest, Xoauth2WithoutSaslIrSendsTheResponseAfterTheContinuation) {
  upstream_.capabilities = "IMAP4rev1 AUTH=XOAUTH2";
  serve();
  auto snapshot = open("XOAUTH2");
  ASSERT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  ASSERT_GE(server_->commands().size(), 2u);
  EXPECT_EQ(server_->commands()[0], "p1 AUTHENTICATE XOAUTH2");
  EXPECT_EQ(server_->commands()[1], kXoauth2Response);  // RFC 3501 §6.2.2: on its own line
  EXPECT_EQ(upstream_.responses, (Commands{std::string(kXoauth2Response)}));
}

TEST_F(ImapMailboxOAuthTest, OauthbearerWithoutSaslIrSendsTheResponseAfterTheContinuation) {
  upstream_.capabilities = "IMAP4rev1 AUTH=OAUTHBEARER";
  serve();
  auto snapshot = open("OAUTHBEARER");
  ASSERT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  ASSERT_GE(server_->commands().size(), 2u);
  EXPECT_EQ(server_->commands()[0], "p1 AUTHENTICATE OAUTHBEARER");
  EXPECT_EQ(server_->commands()[1], kOauthbearerResponse);
}

TEST_F(ImapMailboxOAuthTest, ClientsMechanismFallsBackToTheOneTheUpstreamOffers) {
  upstream_.capabilities = "IMAP4rev1 SASL-IR AUTH=XOAUTH2";
  serve();
  auto snapshot = open("OAUTHBEARER");
  ASSERT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  EXPECT_EQ(server_->commands()[0], "p1 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2Response));
}

TEST_F(ImapMailboxOAuthTest, Xoauth2ErrorChallengeIsAnsweredWithAnEmptyLineThenAuth) {
  upstream_.accept = false;
  serve();
  auto snapshot = open("XOAUTH2");
  EXPECT_EQ(outcome(snapshot), "auth") << detail(snapshot);
  // The command with SASL-IR, then the empty acknowledgement the server waits for before its NO.
  EXPECT_EQ(server_->commands(), (Commands{"p1 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2Response), ""}));
  EXPECT_EQ(server_->count("SELECT"), 0u);
  EXPECT_EQ(detail(snapshot).find(kToken), std::string::npos) << detail(snapshot);
}

TEST_F(ImapMailboxOAuthTest, OauthbearerErrorChallengeIsAnsweredWithCtrlAThenAuth) {
  upstream_.accept = false;
  upstream_.error_challenge = kOauthbearerError;
  serve();
  auto snapshot = open("OAUTHBEARER");
  EXPECT_EQ(outcome(snapshot), "auth") << detail(snapshot);
  // RFC 7628 §3.2.3: a single ^A, base64 "AQ==".
  EXPECT_EQ(server_->commands(),
            (Commands{"p1 AUTHENTICATE OAUTHBEARER " + std::string(kOauthbearerResponse), "AQ=="}));
}

TEST_F(ImapMailboxOAuthTest, ErrorChallengeInTheContinuationFormIsAcknowledgedToo) {
  upstream_.capabilities = "IMAP4rev1 AUTH=OAUTHBEARER";
  upstream_.accept = false;
  upstream_.error_challenge = kOauthbearerError;
  serve();
  auto snapshot = open("OAUTHBEARER");
  EXPECT_EQ(outcome(snapshot), "auth") << detail(snapshot);
  EXPECT_EQ(server_->commands(),
            (Commands{"p1 AUTHENTICATE OAUTHBEARER", std::string(kOauthbearerResponse), "AQ=="}));
}

TEST_F(ImapMailboxOAuthTest, ASecondChallengeAfterTheAcknowledgementIsCancelled) {
  // A server that challenges again instead of sending its NO: the exchange is cancelled with "*"
  // (RFC 3501 §6.2.2) rather than acknowledged for ever.
  upstream_.accept = false;
  serve();
  int challenges = 0;
  std::string tag;
  server_ = std::make_unique<ScriptedImapServer>(
      loop_, "* OK [CAPABILITY " + upstream_.capabilities + "] ready\r\n",
      [&](const std::string& line) -> std::string {
        if (line == "*") return std::exchange(tag, "") + " BAD Authentication aborted by client.\r\n";
        if (!tag.empty() || split_command(line).name == "AUTHENTICATE") {
          if (tag.empty()) tag = split_command(line).tag;
          ++challenges;
          return "+ " + std::string(kXoauth2Error) + "\r\n";
        }
        return upstream_.answer(line);
      });
  settings_.port = server_->port();
  auto snapshot = open("XOAUTH2");
  EXPECT_EQ(outcome(snapshot), "protocol") << detail(snapshot);
  EXPECT_EQ(challenges, 2);
  EXPECT_EQ(server_->commands(),
            (Commands{"p1 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2Response), "", "*"}));
}

TEST_F(ImapMailboxOAuthTest, UpstreamOfferingNeitherMechanismIsPermanentAndGetsNoToken) {
  upstream_.capabilities = "IMAP4rev1 SASL-IR AUTH=PLAIN";
  serve();
  auto snapshot = open("XOAUTH2");
  EXPECT_EQ(outcome(snapshot), "permanent") << detail(snapshot);
  EXPECT_NE(detail(snapshot).find("neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER"), std::string::npos)
      << detail(snapshot);
  // Never as a password instead: nothing carrying the token was sent.
  EXPECT_EQ(server_->count("AUTHENTICATE"), 0u);
  EXPECT_EQ(server_->count("LOGIN"), 0u);
  for (const auto& line : server_->commands()) EXPECT_EQ(line.find(kToken), std::string::npos) << line;
}

TEST_F(ImapMailboxOAuthTest, UnavailableAtLoginIsLoginDelay) {
  // Dovecot's answer when its token introspection endpoint fails: no challenge, a NO at once.
  upstream_.login_reply = "NO [UNAVAILABLE] Temporary authentication failure.";
  serve();
  auto snapshot = open("XOAUTH2");
  EXPECT_EQ(outcome(snapshot), "login_delay") << detail(snapshot);
  EXPECT_EQ(server_->commands(), (Commands{"p1 AUTHENTICATE XOAUTH2 " + std::string(kXoauth2Response)}));
}

TEST_F(ImapMailboxOAuthTest, AuthenticationFailedWithoutAChallengeIsAuth) {
  // Dovecot's answer to OAUTHBEARER without a= in the GS2 header: a plain NO.
  upstream_.login_reply = "NO [AUTHENTICATIONFAILED] Authentication failed.";
  serve();
  auto snapshot = open("OAUTHBEARER");
  EXPECT_EQ(outcome(snapshot), "auth") << detail(snapshot);
}

}  // namespace
}  // namespace popgate
