// Tests for Pop3Server: every command in every state, the limits, pipelining and completions.
#include "protocol/pop3/pop3_server.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/pop3/dot_stuffer.h"
#include "protocol/pop3/top_filter.h"

namespace popgate::pop3 {
namespace {

using namespace std::string_literals;

const std::vector<MessageListing> kListing = {{100, "uid-a"}, {200, "uid-b"}, {300, "uid-c"}};

constexpr std::string_view kPlaintextRefusedStls =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections. Use STLS first.\r\n";
constexpr std::string_view kPlaintextRefused =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.\r\n";
constexpr std::string_view kCapaAuthorization =
    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
    "USER\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\nIMPLEMENTATION popgate\r\n.\r\n";
constexpr std::string_view kCapaTransaction =
    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
    "IMPLEMENTATION popgate\r\n.\r\n";
constexpr std::string_view kTooMany = "-ERR Too many bad commands.\r\n[CLOSE]";

// One event as text, so a whole exchange compares as one string.
std::string render(const Event& event) {
  if (const auto* reply = std::get_if<SendReply>(&event)) return reply->bytes;
  if (const auto* auth = std::get_if<Authenticate>(&event)) {
    return "[AUTH " + auth->mechanism + " " + auth->user + ":" + std::string(auth->password.reveal()) + "]";
  }
  if (const auto* retrieve = std::get_if<Retrieve>(&event)) {
    if (retrieve->top_lines) {
      return "[TOP " + std::to_string(retrieve->index) + " " + std::to_string(*retrieve->top_lines) + "]";
    }
    return "[RETR " + std::to_string(retrieve->index) + "]";
  }
  if (const auto* commit = std::get_if<Commit>(&event)) {
    std::string text = "[COMMIT";
    for (size_t i = 0; i < commit->deleted.size(); ++i)
      text += (i == 0 ? " " : ",") + std::to_string(commit->deleted[i]);
    return text + "]";
  }
  if (std::holds_alternative<StartTls>(event)) return "[STARTTLS]";
  if (std::holds_alternative<Waiting>(event)) return "[WAIT]";
  if (std::holds_alternative<Close>(event)) return "[CLOSE]";
  return "";  // NeedInput
}

// Events until the server needs input, waits for a completion, or closes.
std::string drain_events(Pop3Server& server) {
  std::string text;
  for (int guard = 0; guard < 100000; ++guard) {
    const Event event = server.next_event();
    text += render(event);
    if (std::holds_alternative<NeedInput>(event) || std::holds_alternative<Waiting>(event) ||
        std::holds_alternative<Close>(event)) {
      return text;
    }
  }
  ADD_FAILURE() << "next_event() never settled";
  return text;
}

class Pop3ServerTest : public ::testing::Test {
 protected:
  void start(Options options = {}) { server_ = std::make_unique<Pop3Server>(std::move(options)); }
  void SetUp() override { start(); }

  std::string send(std::string_view bytes) {
    server_->receive(bytes);
    return drain_events(*server_);
  }
  std::string drain() { return drain_events(*server_); }

  void log_in(std::vector<MessageListing> listing = kListing) {
    ASSERT_EQ(send("USER bob\r\n"), "+OK\r\n");
    ASSERT_EQ(send("PASS secret\r\n"), "[AUTH USER bob:secret][WAIT]");
    server_->auth_succeeded(std::move(listing));
    ASSERT_EQ(drain(), "+OK Logged in.\r\n");
    ASSERT_EQ(server_->state(), State::Transaction);
  }

  Options no_plaintext(bool stls) {
    Options options;
    options.plaintext_auth_allowed = false;
    options.stls_offered = stls;
    return options;
  }

  std::unique_ptr<Pop3Server> server_;
};

// ---------------------------------------------------------------- greeting, basics

TEST_F(Pop3ServerTest, Greeting) {
  EXPECT_EQ(server_->greeting(), "+OK popgate ready.\r\n");
  EXPECT_EQ(server_->state(), State::Authorization);
  EXPECT_EQ(drain(), "");  // nothing to do before the client speaks
}

TEST_F(Pop3ServerTest, PartialLineWaitsForItsEnd) {
  EXPECT_EQ(send("CA"), "");
  EXPECT_EQ(server_->buffered_input(), 2u);
  EXPECT_EQ(send("PA"), "");
  EXPECT_EQ(send("\r"), "");
  EXPECT_EQ(send("\n"), kCapaAuthorization);
  EXPECT_EQ(server_->buffered_input(), 0u);
}

TEST_F(Pop3ServerTest, BareLfEndsALine) {
  EXPECT_EQ(send("USER bob\nPASS secret\n"), "+OK\r\n[AUTH USER bob:secret][WAIT]");
}

TEST_F(Pop3ServerTest, KeywordsAreCaseInsensitive) {
  EXPECT_EQ(send("user bob\r\n"), "+OK\r\n");
  EXPECT_EQ(send("pAsS secret\r\n"), "[AUTH USER bob:secret][WAIT]");
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "+OK Logged in.\r\n");
  EXPECT_EQ(send("stat\r\n"), "+OK 3 600\r\n");
  EXPECT_EQ(send("LiSt 2\r\n"), "+OK 2 200\r\n");
  EXPECT_EQ(send("uidl 3\r\n"), "+OK 3 uid-c\r\n");
  EXPECT_EQ(send("noop\r\n"), "+OK\r\n");
  EXPECT_EQ(send("dele 1\r\n"), "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(send("rset\r\n"), "+OK\r\n");
  EXPECT_EQ(send("top 1 0\r\n"), "[TOP 0 0][WAIT]");
}

TEST_F(Pop3ServerTest, TrailingSpacesAreTolerated) {
  EXPECT_EQ(send("CAPA  \r\n"), kCapaAuthorization);
  EXPECT_EQ(send("USER bob  \r\n"), "+OK\r\n");
  EXPECT_EQ(send("PASS secret\r\n"), "[AUTH USER bob:secret][WAIT]");
  server_->auth_succeeded(kListing);
  drain();
  EXPECT_EQ(send("STAT \r\n"), "+OK 3 600\r\n");
  EXPECT_EQ(send("LIST 1 \r\n"), "+OK 1 100\r\n");
  EXPECT_EQ(send("TOP 1  2   \r\n"), "[TOP 0 2][WAIT]");
}

// ---------------------------------------------------------------- every command in every state

struct CommandCase {
  std::string line;
  std::string authorization;
  std::string transaction;
};

const CommandCase kCommandCases[] = {
    {"USER bob", "+OK\r\n", "-ERR Already logged in.\r\n"},
    {"PASS secret", "-ERR No username given.\r\n", "-ERR Already logged in.\r\n"},
    {"AUTH", "+OK\r\nPLAIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n", "-ERR Already logged in.\r\n"},
    {"AUTH PLAIN", "+ \r\n", "-ERR Already logged in.\r\n"},
    {"STLS", "-ERR Unknown command: STLS.\r\n", "-ERR Unknown command: STLS.\r\n"},
    {"CAPA", std::string(kCapaAuthorization), std::string(kCapaTransaction)},
    {"QUIT", "+OK Logging out.\r\n[CLOSE]", "[COMMIT][WAIT]"},
    {"NOOP", "-ERR Unknown command in this state.\r\n", "+OK\r\n"},
    {"STAT", "-ERR Unknown command in this state.\r\n", "+OK 3 600\r\n"},
    {"LIST", "-ERR Unknown command in this state.\r\n",
     "+OK 3 messages:\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n"},
    {"LIST 2", "-ERR Unknown command in this state.\r\n", "+OK 2 200\r\n"},
    {"RETR 1", "-ERR Unknown command in this state.\r\n", "[RETR 0][WAIT]"},
    {"DELE 1", "-ERR Unknown command in this state.\r\n", "+OK Marked to be deleted.\r\n"},
    {"RSET", "-ERR Unknown command in this state.\r\n", "+OK\r\n"},
    {"TOP 1 5", "-ERR Unknown command in this state.\r\n", "[TOP 0 5][WAIT]"},
    {"UIDL", "-ERR Unknown command in this state.\r\n", "+OK\r\n1 uid-a\r\n2 uid-b\r\n3 uid-c\r\n.\r\n"},
    {"UIDL 3", "-ERR Unknown command in this state.\r\n", "+OK 3 uid-c\r\n"},
    {"APOP bob 0123456789abcdef", "-ERR Unknown command: APOP.\r\n", "-ERR Unknown command: APOP.\r\n"},
    {"XYZZY", "-ERR Unknown command: XYZZY.\r\n", "-ERR Unknown command: XYZZY.\r\n"},
};

TEST_F(Pop3ServerTest, EveryCommandInAuthorization) {
  for (const CommandCase& c : kCommandCases) {
    start();
    EXPECT_EQ(send(c.line + "\r\n"), c.authorization) << c.line;
  }
}

TEST_F(Pop3ServerTest, EveryCommandInTransaction) {
  for (const CommandCase& c : kCommandCases) {
    start();
    log_in();
    EXPECT_EQ(send(c.line + "\r\n"), c.transaction) << c.line;
  }
}

TEST_F(Pop3ServerTest, NoCommandRunsInUpdate) {
  for (const CommandCase& c : kCommandCases) {
    start();
    log_in();
    EXPECT_EQ(send("DELE 2\r\nQUIT\r\n"), "+OK Marked to be deleted.\r\n[COMMIT 1][WAIT]");
    EXPECT_EQ(server_->state(), State::Update);
    EXPECT_EQ(send(c.line + "\r\n"), "[WAIT]") << c.line;
    server_->commit_succeeded();
    EXPECT_EQ(drain(), "+OK Logging out.\r\n[CLOSE]") << c.line;  // never an answer to c.line
  }
}

TEST_F(Pop3ServerTest, NoCommandRunsAfterClose) {
  for (const CommandCase& c : kCommandCases) {
    start();
    EXPECT_EQ(send("QUIT\r\n"), "+OK Logging out.\r\n[CLOSE]");
    EXPECT_EQ(send(c.line + "\r\n"), "[CLOSE]") << c.line;
    EXPECT_EQ(server_->buffered_input(), 0u);  // receive() ignored it
    EXPECT_EQ(server_->state(), State::Closed);
  }
}

TEST_F(Pop3ServerTest, CloseRepeats) {
  EXPECT_EQ(send("QUIT\r\nUSER bob\r\n"), "+OK Logging out.\r\n[CLOSE]");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::holds_alternative<Close>(server_->next_event()));
}

// ---------------------------------------------------------------- unknown and malformed commands

TEST_F(Pop3ServerTest, UnknownKeywordIsTruncatedAndSanitised) {
  EXPECT_EQ(send("abcdefghijklmnopqrstuvwxyz 1\r\n"), "-ERR Unknown command: ABCDEFGHIJKLMNOP.\r\n");
  EXPECT_EQ(send("A\x01\x7f\xff\xe9Z\r\n"), "-ERR Unknown command: A????Z.\r\n");
  start();
  EXPECT_EQ(send("N\0OP\r\n"s), "-ERR Unknown command: N?OP.\r\n");
  EXPECT_EQ(send("NOOP\t\r\n"), "-ERR Unknown command: NOOP?.\r\n");
}

TEST_F(Pop3ServerTest, LineWithoutKeyword) {
  EXPECT_EQ(send("\r\n"), "-ERR Unknown command.\r\n");
  EXPECT_EQ(send(" CAPA\r\n"), "-ERR Unknown command.\r\n");
  EXPECT_EQ(send("   \r\n"), "-ERR Unknown command.\r\n");
}

TEST_F(Pop3ServerTest, OnlyOneTrailingCrIsStripped) {
  EXPECT_EQ(send("CAPA\r\r\n"), "-ERR Unknown command: CAPA?.\r\n");
}

// ---------------------------------------------------------------- USER / PASS

TEST_F(Pop3ServerTest, UserPassLogsIn) {
  log_in();
  EXPECT_EQ(server_->listing().size(), 3u);
  EXPECT_FALSE(server_->is_deleted(0));
  EXPECT_FALSE(server_->is_deleted(99));  // out of range is simply "not deleted"
}

TEST_F(Pop3ServerTest, UserNeedsAName) {
  EXPECT_EQ(send("USER\r\n"), "-ERR Missing argument.\r\n");
  EXPECT_EQ(send("USER   \r\n"), "-ERR Missing argument.\r\n");
  EXPECT_EQ(send("PASS secret\r\n"), "-ERR No username given.\r\n");
}

TEST_F(Pop3ServerTest, LastUserWins) {
  send("USER alice\r\n");
  send("USER bob\r\n");
  EXPECT_EQ(send("PASS secret\r\n"), "[AUTH USER bob:secret][WAIT]");
}

TEST_F(Pop3ServerTest, PassKeepsTheRestOfTheLineVerbatim) {
  send("USER bob\r\n");
  EXPECT_EQ(send("PASS  correct horse battery staple \r\n"),
            "[AUTH USER bob: correct horse battery staple ][WAIT]");
}

TEST_F(Pop3ServerTest, PassNeedsAPassword) {
  send("USER bob\r\n");
  EXPECT_EQ(send("PASS\r\n"), "-ERR Missing argument.\r\n");
  EXPECT_EQ(send("PASS \r\n"), "-ERR Missing argument.\r\n");
  EXPECT_EQ(send("PASS x\r\n"), "[AUTH USER bob:x][WAIT]");  // the USER survived the errors
}

TEST_F(Pop3ServerTest, PassWithoutUser) {
  EXPECT_EQ(send("PASS secret\r\n"), "-ERR No username given.\r\n");
}

TEST_F(Pop3ServerTest, AfterAFailedLoginUserMustBeSentAgain) {
  send("USER bob\r\n");
  send("PASS wrong\r\n");
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(drain(), "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(server_->state(), State::Authorization);
  EXPECT_EQ(send("PASS secret\r\n"), "-ERR No username given.\r\n");
  EXPECT_EQ(send("USER bob\r\nPASS secret\r\n"), "+OK\r\n[AUTH USER bob:secret][WAIT]");
}

TEST_F(Pop3ServerTest, AuthFailureClassesPickTheResponseCode) {
  const std::pair<ErrorKind, std::string> kCases[] = {
      {ErrorKind::Auth, "-ERR [AUTH] Authentication failed.\r\n"},
      {ErrorKind::InUse, "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"},
      {ErrorKind::Permanent, "-ERR [SYS/PERM] Mailbox unavailable.\r\n"},
      {ErrorKind::Temporary, "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n"},
      {ErrorKind::NotFound, "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n"},
      {ErrorKind::Protocol, "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n"},
      {ErrorKind::Internal, "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n"},
  };
  for (const auto& [kind, reply] : kCases) {
    start();
    send("USER bob\r\nPASS secret\r\n");
    server_->auth_failed(kind);
    EXPECT_EQ(drain(), reply) << to_string(kind);
    EXPECT_EQ(server_->state(), State::Authorization);
  }
}

TEST_F(Pop3ServerTest, FailedLoginsAreNotBadCommands) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(send("USER bob\r\nPASS wrong\r\n"), "+OK\r\n[AUTH USER bob:wrong][WAIT]");
    server_->auth_failed(ErrorKind::Auth);
    ASSERT_EQ(drain(), "-ERR [AUTH] Authentication failed.\r\n");
  }
  // A failure neither counts nor is counted: three bad commands are still answered.
  EXPECT_EQ(send("X\r\nX\r\nX\r\n"),
            "-ERR Unknown command: X.\r\n-ERR Unknown command: X.\r\n-ERR Unknown command: X.\r\n");
  EXPECT_EQ(send("X\r\n"), "-ERR Unknown command: X.\r\n" + std::string(kTooMany));
}

TEST_F(Pop3ServerTest, CommandsPipelinedBehindPassWaitForTheOutcome) {
  EXPECT_EQ(send("USER bob\r\nPASS secret\r\nSTAT\r\nQUIT\r\n"), "+OK\r\n[AUTH USER bob:secret][WAIT]");
  EXPECT_EQ(drain(), "[WAIT]");
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "+OK Logged in.\r\n+OK 3 600\r\n[COMMIT][WAIT]");
}

// ---------------------------------------------------------------- AUTH (RFC 5034)

TEST_F(Pop3ServerTest, AuthListsMechanisms) {
  EXPECT_EQ(send("AUTH\r\n"), "+OK\r\nPLAIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n");
  start(no_plaintext(true));
  EXPECT_EQ(send("AUTH\r\n"), "+OK\r\n.\r\n");
}

TEST_F(Pop3ServerTest, AuthPlainWithInitialResponse) {
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"), "[AUTH PLAIN bob:secret][WAIT]");
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "+OK Logged in.\r\n");
  EXPECT_EQ(server_->state(), State::Transaction);
}

TEST_F(Pop3ServerTest, AuthPlainMechanismIsCaseInsensitive) {
  EXPECT_EQ(send("auth plain AGJvYgBzZWNyZXQ=\r\n"), "[AUTH PLAIN bob:secret][WAIT]");
}

TEST_F(Pop3ServerTest, AuthPlainWithContinuation) {
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(server_->current_command(), "");
  EXPECT_EQ(send("AGJvYgBzZWNyZXQ=\r\n"), "[AUTH PLAIN bob:secret][WAIT]");
  EXPECT_EQ(server_->current_command(), "AUTH");
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(drain(), "-ERR [AUTH] Authentication failed.\r\n");
}

TEST_F(Pop3ServerTest, AuthContinuationIsNotACommand) {
  // "QUIT" happens to be valid base64; as SASL data it is no PLAIN message.
  EXPECT_EQ(send("AUTH PLAIN\r\nQUIT\r\n"), "+ \r\n-ERR [AUTH] Invalid SASL PLAIN response.\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\nQUIT now\r\n"), "+ \r\n-ERR Invalid base64 data.\r\n");
  EXPECT_EQ(server_->state(), State::Authorization);
}

TEST_F(Pop3ServerTest, AuthContinuationToleratesTrailingSpacesAndBareLf) {
  EXPECT_EQ(send("AUTH PLAIN\nAGJvYgBzZWNyZXQ=  \n"), "+ \r\n[AUTH PLAIN bob:secret][WAIT]");
}

TEST_F(Pop3ServerTest, AuthPlainCancelled) {
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\n"), "+ \r\n-ERR Authentication cancelled.\r\n");
  EXPECT_EQ(send("CAPA\r\n"), kCapaAuthorization);  // back to commands
}

TEST_F(Pop3ServerTest, AuthPlainStarAsInitialResponseIsNotACancel) {
  EXPECT_EQ(send("AUTH PLAIN *\r\n"), "-ERR Invalid base64 data.\r\n");
}

TEST_F(Pop3ServerTest, AuthPlainEqualsIsAnEmptyInitialResponse) {
  EXPECT_EQ(send("AUTH PLAIN =\r\n"), "-ERR [AUTH] Invalid SASL PLAIN response.\r\n");
  // As a continuation line "=" is just bad base64; an empty line is the empty response.
  EXPECT_EQ(send("AUTH PLAIN\r\n=\r\n"), "+ \r\n-ERR Invalid base64 data.\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n\r\n"), "+ \r\n-ERR [AUTH] Invalid SASL PLAIN response.\r\n");
}

TEST_F(Pop3ServerTest, AuthPlainBadBase64) {
  for (const std::string& data :
       {"AGJvYgBzZWNyZXQ"s, "!!!!"s, "AGJv YgBz"s, "AGJvYgBzZWNyZXQ=="s, "\xff\xff\xff\xff"s}) {
    start();
    EXPECT_EQ(send("AUTH PLAIN\r\n" + data + "\r\n"), "+ \r\n-ERR Invalid base64 data.\r\n") << data;
  }
  start();
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBzZWNyZXQ\r\n"), "-ERR Invalid base64 data.\r\n");
}

TEST_F(Pop3ServerTest, AuthPlainMalformedMessage) {
  // "bob\0secret" (one NUL), "\0\0secret" (no authcid), "\0bob\0" (no password), three NULs.
  for (const std::string& data : {"Ym9iAHNlY3JldA=="s, "AABzZWNyZXQ="s, "AGJvYgA="s, "AGJvYgBzZQBjcmV0"s}) {
    start();
    EXPECT_EQ(send("AUTH PLAIN " + data + "\r\n"), "-ERR [AUTH] Invalid SASL PLAIN response.\r\n") << data;
  }
}

TEST_F(Pop3ServerTest, AuthPlainAuthzid) {
  // "bob\0bob\0secret": acting as oneself is fine.
  EXPECT_EQ(send("AUTH PLAIN Ym9iAGJvYgBzZWNyZXQ=\r\n"), "[AUTH PLAIN bob:secret][WAIT]");
  start();
  // "alice\0bob\0secret": bob acting as alice is not.
  EXPECT_EQ(send("AUTH PLAIN YWxpY2UAYm9iAHNlY3JldA==\r\n"),
            "-ERR [AUTH] Authorization identity not supported.\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\nYWxpY2UAYm9iAHNlY3JldA==\r\n"),
            "+ \r\n-ERR [AUTH] Authorization identity not supported.\r\n");
}

TEST_F(Pop3ServerTest, AuthPlainPasswordWithSpaces) {
  // "\0bob\0pass word "
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBwYXNzIHdvcmQg\r\n"), "[AUTH PLAIN bob:pass word ][WAIT]");
}

TEST_F(Pop3ServerTest, AuthUnknownMechanism) {
  EXPECT_EQ(send("AUTH CRAM-MD5\r\n"), "-ERR Unsupported authentication mechanism.\r\n");
  EXPECT_EQ(send("AUTH LOGIN\r\n"), "-ERR Unsupported authentication mechanism.\r\n");
  EXPECT_EQ(send("AUTH PLAINX\r\n"), "-ERR Unsupported authentication mechanism.\r\n");
}

TEST_F(Pop3ServerTest, AuthTooManyArguments) {
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBzZWNyZXQ= x\r\n"), "-ERR Too many arguments.\r\n");
}

TEST_F(Pop3ServerTest, AuthContinuationUsesTheSaslLineLimit) {
  Options options;
  options.limits.max_command_line = 64;
  options.limits.max_sasl_line = 256;
  start(options);
  // "\0bob\0" + 150 'x': 200 base64 characters, far over the command limit.
  const std::string token = "AGJvYgB4" + std::string(192, 'e');
  ASSERT_EQ(token.size(), 200u);
  EXPECT_EQ(send("AUTH PLAIN\r\n" + token + "\r\n").substr(0, 10), "+ \r\n[AUTH ");
  // Over the SASL limit the exchange ends with the line error.
  start(options);
  EXPECT_EQ(send("AUTH PLAIN\r\n" + std::string(300, 'A') + "\r\nCAPA\r\n"),
            "+ \r\n-ERR Line too long.\r\n" + std::string(kCapaAuthorization));
  // And the next command line is held to the command limit again.
  EXPECT_EQ(send(std::string(100, 'A') + "\r\n"), "-ERR Line too long.\r\n");
}

// ---------------------------------------------------------------- plaintext policy and STLS

TEST_F(Pop3ServerTest, PlaintextRefusedWithStlsHint) {
  start(no_plaintext(true));
  EXPECT_EQ(send("USER bob\r\n"), kPlaintextRefusedStls);
  EXPECT_EQ(send("PASS secret\r\n"), kPlaintextRefusedStls);
  start(no_plaintext(true));
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"), kPlaintextRefusedStls);
  EXPECT_EQ(send("AUTH PLAIN\r\n"), kPlaintextRefusedStls);
}

TEST_F(Pop3ServerTest, PlaintextRefusedWithoutStls) {
  start(no_plaintext(false));
  EXPECT_EQ(send("USER bob\r\n"), kPlaintextRefused);
  EXPECT_EQ(send("PASS secret\r\n"), kPlaintextRefused);
  start(no_plaintext(false));
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"), kPlaintextRefused);
}

TEST_F(Pop3ServerTest, CapaVariants) {
  EXPECT_EQ(send("CAPA\r\n"), kCapaAuthorization);

  start(no_plaintext(false));
  EXPECT_EQ(send("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
            "IMPLEMENTATION popgate\r\n.\r\n");

  start(no_plaintext(true));
  EXPECT_EQ(send("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
            "STLS\r\nIMPLEMENTATION popgate\r\n.\r\n");
  EXPECT_EQ(send("STLS\r\n"), "+OK Begin TLS negotiation now.\r\n[STARTTLS][WAIT]");
  server_->tls_started();
  EXPECT_EQ(send("CAPA\r\n"), kCapaAuthorization);  // USER and SASL PLAIN, no more STLS

  Options plain_and_stls;
  plain_and_stls.stls_offered = true;
  plain_and_stls.implementation = "gw\r\n1.0";  // configuration text cannot break the list
  start(plain_and_stls);
  EXPECT_EQ(send("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
            "USER\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\nSTLS\r\nIMPLEMENTATION gw1.0\r\n.\r\n");
  log_in();
  EXPECT_EQ(send("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
            "IMPLEMENTATION gw1.0\r\n.\r\n");

  Options no_implementation;
  no_implementation.implementation = "";
  start(no_implementation);
  EXPECT_EQ(send("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
            "USER\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n.\r\n");
}

TEST_F(Pop3ServerTest, CapaTakesNoArguments) {
  EXPECT_EQ(send("CAPA X\r\n"), "-ERR Too many arguments.\r\n");
}

TEST_F(Pop3ServerTest, StlsThenLogin) {
  start(no_plaintext(true));
  EXPECT_EQ(send("STLS\r\n"), "+OK Begin TLS negotiation now.\r\n[STARTTLS][WAIT]");
  EXPECT_EQ(server_->current_command(), "STLS");
  EXPECT_FALSE(server_->tls_active());
  EXPECT_EQ(drain(), "[WAIT]");
  server_->tls_started();
  EXPECT_TRUE(server_->tls_active());
  EXPECT_EQ(drain(), "");
  EXPECT_EQ(send("AUTH\r\n"), "+OK\r\nPLAIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n");
  log_in();
}

TEST_F(Pop3ServerTest, StlsDiscardsPipelinedCleartext) {
  // CVE-2011-0411: commands injected after STLS in the same packet must not run under TLS.
  start(no_plaintext(true));
  EXPECT_EQ(send("STLS\r\nUSER mallory\r\nPASS evil\r\n"),
            "+OK Begin TLS negotiation now.\r\n[STARTTLS][WAIT]");
  EXPECT_EQ(send("CAPA\r\n"), "[WAIT]");  // arrives before the handshake: also cleartext
  server_->tls_started();
  EXPECT_EQ(server_->buffered_input(), 0u);
  EXPECT_EQ(drain(), "");
  EXPECT_EQ(send("PASS secret\r\n"), "-ERR No username given.\r\n");
}

TEST_F(Pop3ServerTest, StlsDiscardsAPartialPipelinedLine) {
  start(no_plaintext(true));
  EXPECT_EQ(send("STLS\r\nUSER mal"), "+OK Begin TLS negotiation now.\r\n[STARTTLS][WAIT]");
  server_->tls_started();
  EXPECT_EQ(send("CAPA\r\n"), kCapaAuthorization);
}

TEST_F(Pop3ServerTest, StlsWhenActiveOrNotOffered) {
  start(no_plaintext(true));
  send("STLS\r\n");
  server_->tls_started();
  EXPECT_EQ(send("STLS\r\n"), "-ERR TLS already active.\r\n");
  log_in();
  EXPECT_EQ(send("STLS\r\n"), "-ERR TLS already active.\r\n");

  start();
  server_->receive("STLS\r\n");
  EXPECT_EQ(render(server_->next_event()), "-ERR Unknown command: STLS.\r\n");
  EXPECT_EQ(server_->current_command(), "UNKNOWN");
}

TEST_F(Pop3ServerTest, StlsOnlyBeforeLogin) {
  Options options;
  options.stls_offered = true;
  start(options);
  log_in();
  EXPECT_EQ(send("STLS\r\n"), "-ERR Unknown command in this state.\r\n");
}

TEST_F(Pop3ServerTest, StlsTakesNoArguments) {
  start(no_plaintext(true));
  EXPECT_EQ(send("STLS now\r\n"), "-ERR Too many arguments.\r\n");
}

TEST_F(Pop3ServerTest, TlsStartedWithoutStlsIsIgnored) {
  start(no_plaintext(true));
  send("CAPA\r\n");
  server_->tls_started();
  EXPECT_FALSE(server_->tls_active());
  EXPECT_EQ(send("USER bob\r\n"), kPlaintextRefusedStls);
}

TEST_F(Pop3ServerTest, UserPassAllowedUnderTls) {
  start(no_plaintext(true));
  send("STLS\r\n");
  server_->tls_started();
  EXPECT_EQ(send("USER bob\r\nPASS secret\r\n"), "+OK\r\n[AUTH USER bob:secret][WAIT]");
  start(no_plaintext(true));
  send("STLS\r\n");
  server_->tls_started();
  EXPECT_EQ(send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"), "[AUTH PLAIN bob:secret][WAIT]");
}

// ---------------------------------------------------------------- TRANSACTION

TEST_F(Pop3ServerTest, StatListUidlSkipDeletedMessages) {
  log_in();
  EXPECT_EQ(send("DELE 2\r\n"), "+OK Marked to be deleted.\r\n");
  EXPECT_TRUE(server_->is_deleted(1));
  EXPECT_EQ(send("STAT\r\n"), "+OK 2 400\r\n");
  EXPECT_EQ(send("LIST\r\n"), "+OK 2 messages:\r\n1 100\r\n3 300\r\n.\r\n");
  EXPECT_EQ(send("UIDL\r\n"), "+OK\r\n1 uid-a\r\n3 uid-c\r\n.\r\n");
  EXPECT_EQ(send("LIST 2\r\n"), "-ERR Message is deleted.\r\n");
  EXPECT_EQ(send("UIDL 2\r\n"), "-ERR Message is deleted.\r\n");
  EXPECT_EQ(send("RETR 2\r\n"), "-ERR Message is deleted.\r\n");
  EXPECT_EQ(send("TOP 2 1\r\n"), "-ERR Message is deleted.\r\n");
  EXPECT_EQ(send("DELE 2\r\n"), "-ERR Message is deleted.\r\n");
  EXPECT_EQ(send("LIST 3\r\n"), "+OK 3 300\r\n");  // numbers do not shift
}

TEST_F(Pop3ServerTest, EmptyMaildrop) {
  log_in({});
  EXPECT_EQ(send("STAT\r\n"), "+OK 0 0\r\n");
  EXPECT_EQ(send("LIST\r\n"), "+OK 0 messages:\r\n.\r\n");
  EXPECT_EQ(send("UIDL\r\n"), "+OK\r\n.\r\n");
  EXPECT_EQ(send("RETR 1\r\n"), "-ERR There's no message 1.\r\n");
  EXPECT_EQ(send("QUIT\r\n"), "[COMMIT][WAIT]");
}

TEST_F(Pop3ServerTest, MessageNumberValidation) {
  Options options;
  options.limits.max_bad_commands_after_login = 1000;  // this table is all bad commands
  start(options);
  log_in();
  const std::pair<std::string, std::string> kCases[] = {
      {"LIST 0", "-ERR There's no message 0.\r\n"},
      {"LIST 4", "-ERR There's no message 4.\r\n"},
      {"LIST 18446744073709551615", "-ERR There's no message 18446744073709551615.\r\n"},
      {"LIST 18446744073709551616", "-ERR Invalid message number.\r\n"},
      {"LIST 99999999999999999999999", "-ERR Invalid message number.\r\n"},
      {"LIST -1", "-ERR Invalid message number.\r\n"},
      {"LIST +1", "-ERR Invalid message number.\r\n"},
      {"LIST 1x", "-ERR Invalid message number.\r\n"},
      {"LIST abc", "-ERR Invalid message number.\r\n"},
      {"LIST 0x1", "-ERR Invalid message number.\r\n"},
      {"LIST 1 2", "-ERR Too many arguments.\r\n"},
      {"LIST 01", "+OK 1 100\r\n"},
      {"UIDL 0", "-ERR There's no message 0.\r\n"},
      {"UIDL x", "-ERR Invalid message number.\r\n"},
      {"UIDL 1 2", "-ERR Too many arguments.\r\n"},
      {"RETR", "-ERR Missing argument.\r\n"},
      {"RETR 1 2", "-ERR Too many arguments.\r\n"},
      {"RETR 0", "-ERR There's no message 0.\r\n"},
      {"RETR 4", "-ERR There's no message 4.\r\n"},
      {"RETR one", "-ERR Invalid message number.\r\n"},
      {"DELE", "-ERR Missing argument.\r\n"},
      {"DELE 1 2", "-ERR Too many arguments.\r\n"},
      {"DELE 4", "-ERR There's no message 4.\r\n"},
      {"DELE -3", "-ERR Invalid message number.\r\n"},
      {"TOP", "-ERR Missing argument.\r\n"},
      {"TOP 1", "-ERR Missing argument.\r\n"},
      {"TOP 1 2 3", "-ERR Too many arguments.\r\n"},
      {"TOP 4 1", "-ERR There's no message 4.\r\n"},
      {"TOP x 1", "-ERR Invalid message number.\r\n"},
      {"TOP 1 x", "-ERR Invalid number of lines.\r\n"},
      {"TOP 1 -1", "-ERR Invalid number of lines.\r\n"},
      {"TOP 1 99999999999999999999999", "-ERR Invalid number of lines.\r\n"},
      {"STAT 1", "-ERR Too many arguments.\r\n"},
      {"NOOP 1", "-ERR Too many arguments.\r\n"},
      {"RSET 1", "-ERR Too many arguments.\r\n"},
      {"QUIT now", "-ERR Too many arguments.\r\n"},
  };
  for (const auto& [line, reply] : kCases) EXPECT_EQ(send(line + "\r\n"), reply) << line;
  EXPECT_EQ(server_->state(), State::Transaction);
}

TEST_F(Pop3ServerTest, RetrStreamsAndResumes) {
  log_in();
  EXPECT_EQ(send("RETR 2\r\nNOOP\r\n"), "[RETR 1][WAIT]");
  EXPECT_EQ(server_->current_command(), "RETR");
  EXPECT_EQ(drain(), "[WAIT]");
  EXPECT_EQ(server_->retrieve_started(), "+OK 200 octets\r\n");
  EXPECT_EQ(drain(), "[WAIT]");  // still streaming
  EXPECT_EQ(server_->current_command(), "RETR");
  server_->retrieve_finished();
  EXPECT_EQ(drain(), "+OK\r\n");
  EXPECT_EQ(server_->current_command(), "");
}

TEST_F(Pop3ServerTest, TopStatusLine) {
  log_in();
  EXPECT_EQ(send("TOP 3 0\r\n"), "[TOP 2 0][WAIT]");
  EXPECT_EQ(server_->retrieve_started(), "+OK\r\n");
  server_->retrieve_finished();
  EXPECT_EQ(send("TOP 1 18446744073709551615\r\n"), "[TOP 0 18446744073709551615][WAIT]");
}

TEST_F(Pop3ServerTest, RetrieveFailedBeforeStart) {
  log_in();
  send("RETR 1\r\n");
  server_->retrieve_failed(ErrorKind::NotFound);
  EXPECT_EQ(drain(), "-ERR Message no longer exists upstream.\r\n");
  EXPECT_EQ(send("STAT\r\n"), "+OK 3 600\r\n");  // the session goes on
  for (ErrorKind kind : {ErrorKind::Temporary, ErrorKind::Permanent, ErrorKind::Protocol, ErrorKind::Internal,
                         ErrorKind::Auth, ErrorKind::InUse}) {
    send("TOP 1 1\r\n");
    server_->retrieve_failed(kind);
    EXPECT_EQ(drain(), "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n") << to_string(kind);
  }
  EXPECT_EQ(server_->state(), State::Transaction);
}

TEST_F(Pop3ServerTest, RetrieveFailedWhileStreamingCloses) {
  log_in();
  send("DELE 1\r\nRETR 2\r\nNOOP\r\n");
  EXPECT_EQ(server_->retrieve_started(), "+OK 200 octets\r\n");
  server_->retrieve_failed(ErrorKind::Temporary);
  EXPECT_EQ(server_->state(), State::Closed);
  EXPECT_EQ(drain(), "[CLOSE]");  // no -ERR in the middle of a body, no Commit
  EXPECT_EQ(drain(), "[CLOSE]");
}

TEST_F(Pop3ServerTest, DeleThenQuitCommitsExactlyTheMarkedMessages) {
  log_in({{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}, {5, "e"}});
  EXPECT_EQ(send("DELE 5\r\nDELE 2\r\nDELE 4\r\n"),
            "+OK Marked to be deleted.\r\n+OK Marked to be deleted.\r\n+OK Marked to be deleted.\r\n");
  EXPECT_EQ(send("QUIT\r\n"), "[COMMIT 1,3,4][WAIT]");
  EXPECT_EQ(server_->state(), State::Update);
  EXPECT_EQ(server_->current_command(), "QUIT");
  server_->commit_succeeded();
  EXPECT_EQ(drain(), "+OK Logging out.\r\n[CLOSE]");
  EXPECT_EQ(server_->state(), State::Closed);
}

TEST_F(Pop3ServerTest, RsetClearsTheMarks) {
  log_in();
  send("DELE 1\r\nDELE 3\r\n");
  EXPECT_EQ(send("RSET\r\n"), "+OK\r\n");
  EXPECT_FALSE(server_->is_deleted(0));
  EXPECT_EQ(send("STAT\r\n"), "+OK 3 600\r\n");
  EXPECT_EQ(send("DELE 2\r\nQUIT\r\n"), "+OK Marked to be deleted.\r\n[COMMIT 1][WAIT]");
}

TEST_F(Pop3ServerTest, CommitFailureClosesWithTheSameReplyForEveryKind) {
  for (ErrorKind kind : {ErrorKind::Temporary, ErrorKind::Permanent, ErrorKind::Protocol, ErrorKind::Internal,
                         ErrorKind::NotFound, ErrorKind::Auth, ErrorKind::InUse}) {
    start();
    log_in();
    send("DELE 1\r\nQUIT\r\n");
    server_->commit_failed(kind);
    EXPECT_EQ(drain(), "-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n[CLOSE]")
        << to_string(kind);
  }
}

// ---------------------------------------------------------------- idle timeout and shutdown

TEST_F(Pop3ServerTest, IdleTimeoutBeforeLogin) {
  server_->idle_timeout();
  EXPECT_EQ(drain(), "-ERR Disconnected for inactivity.\r\n[CLOSE]");
  EXPECT_EQ(server_->state(), State::Closed);
}

TEST_F(Pop3ServerTest, IdleTimeoutAndShutdownNeverCommit) {
  for (bool idle : {true, false}) {
    start();
    log_in();
    send("DELE 1\r\nDELE 2\r\n");
    idle ? server_->idle_timeout() : server_->shutdown();
    EXPECT_EQ(drain(), idle ? "-ERR Disconnected for inactivity.\r\n[CLOSE]"
                            : "-ERR [SYS/TEMP] Server shutting down.\r\n[CLOSE]");
    // Also when a QUIT was already buffered but not yet processed.
    start();
    log_in();
    server_->receive("DELE 1\r\nQUIT\r\n");
    idle ? server_->idle_timeout() : server_->shutdown();
    const std::string text = drain();
    EXPECT_EQ(text.find("COMMIT"), std::string::npos) << text;
    EXPECT_TRUE(text.ends_with("[CLOSE]"));
  }
}

TEST_F(Pop3ServerTest, ShutdownWhileAuthPending) {
  send("USER bob\r\nPASS secret\r\n");
  server_->shutdown();
  EXPECT_EQ(drain(), "-ERR [SYS/TEMP] Server shutting down.\r\n[CLOSE]");
  server_->auth_succeeded(kListing);  // late: ignored
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(server_->state(), State::Closed);
  EXPECT_EQ(drain(), "[CLOSE]");
}

TEST_F(Pop3ServerTest, IdleTimeoutWhileRetrievePending) {
  log_in();
  send("RETR 1\r\n");
  server_->idle_timeout();
  EXPECT_EQ(server_->retrieve_started(), "");  // late: ignored
  server_->retrieve_finished();
  server_->retrieve_failed(ErrorKind::NotFound);
  EXPECT_EQ(drain(), "-ERR Disconnected for inactivity.\r\n[CLOSE]");
}

TEST_F(Pop3ServerTest, ShutdownWhileStreamingOnlyCloses) {
  log_in();
  send("RETR 1\r\n");
  server_->retrieve_started();
  server_->shutdown();  // an -ERR now would read as part of the message
  EXPECT_EQ(drain(), "[CLOSE]");
}

TEST_F(Pop3ServerTest, ShutdownDuringUpdate) {
  log_in();
  send("DELE 1\r\nQUIT\r\n");
  server_->shutdown();
  server_->commit_succeeded();  // late: ignored
  EXPECT_EQ(drain(), "-ERR [SYS/TEMP] Server shutting down.\r\n[CLOSE]");
}

TEST_F(Pop3ServerTest, ShutdownDropsAnActionNotYetHandedOut) {
  start(no_plaintext(true));
  server_->receive("STLS\r\n");
  EXPECT_EQ(render(server_->next_event()), "+OK Begin TLS negotiation now.\r\n");
  server_->shutdown();  // the StartTls event is still queued
  EXPECT_EQ(drain(), "-ERR [SYS/TEMP] Server shutting down.\r\n[CLOSE]");
}

TEST_F(Pop3ServerTest, RepliesQueuedBeforeShutdownStillGoOut) {
  send("USER bob\r\nPASS secret\r\nSTAT\r\n");
  server_->auth_succeeded(kListing);  // queues the login reply
  server_->shutdown();                // before the session drained it; STAT never runs
  server_->idle_timeout();            // a second ending changes nothing
  EXPECT_EQ(drain(), "+OK Logged in.\r\n-ERR [SYS/TEMP] Server shutting down.\r\n[CLOSE]");
}

TEST_F(Pop3ServerTest, CompletionsInTheWrongStateAreIgnored) {
  server_->auth_succeeded(kListing);
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(server_->retrieve_started(), "");
  server_->retrieve_finished();
  server_->retrieve_failed(ErrorKind::Temporary);
  server_->commit_succeeded();
  server_->commit_failed(ErrorKind::Temporary);
  server_->tls_started();
  EXPECT_EQ(drain(), "");
  EXPECT_EQ(server_->state(), State::Authorization);
  EXPECT_FALSE(server_->tls_active());

  log_in();
  send("RETR 1\r\n");
  server_->retrieve_finished();  // before retrieve_started: not the step in flight
  server_->auth_succeeded({});
  server_->commit_succeeded();
  EXPECT_EQ(drain(), "[WAIT]");
  EXPECT_EQ(server_->listing().size(), 3u);
  EXPECT_EQ(server_->retrieve_started(), "+OK 100 octets\r\n");
  EXPECT_EQ(server_->retrieve_started(), "");  // only once
  server_->retrieve_finished();
  EXPECT_EQ(drain(), "");
}

// ---------------------------------------------------------------- current_command()

TEST_F(Pop3ServerTest, CurrentCommandLabels) {
  EXPECT_EQ(server_->current_command(), "");
  server_->receive("capa\r\n");
  server_->next_event();
  EXPECT_EQ(server_->current_command(), "CAPA");
  EXPECT_EQ(drain(), "");
  EXPECT_EQ(server_->current_command(), "");
  server_->receive("frobnicate\r\n");
  server_->next_event();
  EXPECT_EQ(server_->current_command(), "UNKNOWN");
  drain();
  server_->receive("stat\r\n");  // known keyword in the wrong state
  server_->next_event();
  EXPECT_EQ(server_->current_command(), "STAT");
  drain();
  server_->receive("USER bob\r\npass secret\r\n");
  server_->next_event();
  EXPECT_EQ(server_->current_command(), "USER");
  server_->next_event();
  EXPECT_EQ(server_->current_command(), "PASS");
  server_->auth_succeeded(kListing);
  server_->next_event();
  EXPECT_EQ(server_->current_command(), "PASS");  // the login reply belongs to PASS
}

// ---------------------------------------------------------------- line length

class LineLengthTest : public Pop3ServerTest {
 protected:
  static constexpr size_t kMax = Limits{}.max_command_line;
  // "NOOP" padded with spaces to `total` octets including the line ending.
  static std::string noop_line(size_t total, std::string_view ending = "\r\n") {
    return "NOOP" + std::string(total - 4 - ending.size(), ' ') + std::string(ending);
  }
  void SetUp() override {
    start();
    log_in();
  }
};

TEST_F(LineLengthTest, BoundaryCountsTheCrlf) {
  EXPECT_EQ(send(noop_line(kMax - 1)), "+OK\r\n");
  EXPECT_EQ(send(noop_line(kMax)), "+OK\r\n");
  EXPECT_EQ(send(noop_line(kMax + 1)), "-ERR Line too long.\r\n");
  EXPECT_EQ(send("NOOP\r\n"), "+OK\r\n");  // the session survives, in sync
}

TEST_F(LineLengthTest, BoundaryWithBareLf) {
  EXPECT_EQ(send(noop_line(kMax, "\n")), "+OK\r\n");
  EXPECT_EQ(send(noop_line(kMax + 1, "\n")), "-ERR Line too long.\r\n");
}

TEST_F(LineLengthTest, BoundaryOneByteAtATime) {
  for (size_t total : {kMax - 1, kMax, kMax + 1}) {
    std::string text;
    for (const char c : noop_line(total) + "NOOP\r\n") text += send(std::string(1, c));
    EXPECT_EQ(text, (total <= kMax ? "+OK\r\n" : "-ERR Line too long.\r\n") + "+OK\r\n"s) << total;
  }
}

TEST_F(LineLengthTest, DetectedBeforeTheLfArrives) {
  EXPECT_EQ(send(std::string(kMax - 1, 'A')), "");  // could still be a valid line
  EXPECT_EQ(send("A"), "-ERR Line too long.\r\n");  // cannot be any more
  EXPECT_EQ(server_->buffered_input(), 0u);         // and is not kept
  EXPECT_EQ(send(std::string(10000, 'A')), "");     // the rest is skipped, answered once
  EXPECT_EQ(server_->buffered_input(), 0u);
  EXPECT_EQ(send("AAAA\r\nNOOP\r\n"), "+OK\r\n");
}

TEST_F(LineLengthTest, CrAtTheLimitWithoutLf) {
  // kMax-1 octets of text and a CR: the LF that must follow makes kMax+1.
  EXPECT_EQ(send(std::string(kMax - 1, 'A') + "\r"), "-ERR Line too long.\r\n");
  EXPECT_EQ(send("\nNOOP\r\n"), "+OK\r\n");
}

TEST_F(LineLengthTest, LongLinesAreBadCommands) {
  const std::string long_line = std::string(kMax * 2, 'x') + "\r\n";
  std::string text;
  for (unsigned i = 0; i < Limits{}.max_bad_commands_after_login; ++i) text += send(long_line);
  EXPECT_EQ(server_->state(), State::Transaction);
  EXPECT_EQ(send(long_line), "-ERR Line too long.\r\n" + std::string(kTooMany));
}

// ---------------------------------------------------------------- bad-command limits

TEST_F(Pop3ServerTest, FourthBadCommandBeforeLoginCloses) {
  // The limit (3) is how many are tolerated; exceeding it closes, after the command's own -ERR.
  EXPECT_EQ(send("FOO\r\n"), "-ERR Unknown command: FOO.\r\n");
  EXPECT_EQ(send("STAT\r\n"), "-ERR Unknown command in this state.\r\n");
  EXPECT_EQ(send("PASS x\r\n"), "-ERR No username given.\r\n");
  EXPECT_EQ(server_->state(), State::Authorization);
  EXPECT_EQ(send("USER\r\nCAPA\r\n"), "-ERR Missing argument.\r\n" + std::string(kTooMany));
  EXPECT_EQ(server_->state(), State::Closed);
}

TEST_F(Pop3ServerTest, AGoodCommandResetsTheCount) {
  EXPECT_TRUE(send("A\r\nB\r\nC\r\nCAPA\r\nD\r\nE\r\nF\r\n").ends_with("-ERR Unknown command: F.\r\n"));
  EXPECT_EQ(server_->state(), State::Authorization);
  EXPECT_EQ(send("G\r\n"), "-ERR Unknown command: G.\r\n" + std::string(kTooMany));
}

TEST_F(Pop3ServerTest, SaslCancelIsNeitherGoodNorBad) {
  send("A\r\nB\r\nC\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\n"), "+ \r\n-ERR Authentication cancelled.\r\n");  // AUTH resets
  send("D\r\nE\r\n");
  EXPECT_EQ(send("F\r\n"), "-ERR Unknown command: F.\r\n");  // a counted cancel would close here
  EXPECT_EQ(send("G\r\n"), "-ERR Unknown command: G.\r\n" + std::string(kTooMany));
}

TEST_F(Pop3ServerTest, BadSaslDataCounts) {
  send("AUTH PLAIN !!\r\nAUTH PLAIN =\r\nAUTH PLAIN YWxpY2UAYm9iAHNlY3JldA==\r\n");
  EXPECT_EQ(server_->state(), State::Authorization);
  EXPECT_EQ(send("AUTH KERBEROS_V4\r\n"),
            "-ERR Unsupported authentication mechanism.\r\n" + std::string(kTooMany));
}

TEST_F(Pop3ServerTest, PlaintextRefusalsCount) {
  start(no_plaintext(true));
  send("USER a\r\nPASS b\r\nAUTH PLAIN\r\n");
  EXPECT_EQ(send("USER a\r\n"), std::string(kPlaintextRefusedStls) + std::string(kTooMany));
}

TEST_F(Pop3ServerTest, TwentyFirstBadCommandAfterLoginCloses) {
  send("A\r\nB\r\nC\r\n");  // three before login: the login resets the count
  log_in();
  send("DELE 1\r\n");
  for (int i = 0; i < 20; ++i) {
    const std::string bad[] = {"DELE 1", "LIST 9", "USER x", "RETR", "BOGUS"};
    ASSERT_TRUE(send(bad[i % 5] + "\r\n").starts_with("-ERR ")) << i;
  }
  EXPECT_EQ(server_->state(), State::Transaction);
  EXPECT_EQ(send("TOP 1\r\nNOOP\r\n"), "-ERR Missing argument.\r\n" + std::string(kTooMany));
  // Closing for bad commands is not a QUIT: nothing is committed.
}

TEST_F(Pop3ServerTest, CustomLimits) {
  Options options;
  options.limits.max_bad_commands_before_login = 0;
  start(options);
  EXPECT_EQ(send("X\r\n"), "-ERR Unknown command: X.\r\n" + std::string(kTooMany));
  options.limits.max_bad_commands_before_login = 1;
  options.limits.max_bad_commands_after_login = 1;
  start(options);
  EXPECT_EQ(send("X\r\n"), "-ERR Unknown command: X.\r\n");
  log_in();
  EXPECT_EQ(send("X\r\n"), "-ERR Unknown command: X.\r\n");
  EXPECT_EQ(send("X\r\n"), "-ERR Unknown command: X.\r\n" + std::string(kTooMany));
}

// ---------------------------------------------------------------- pipelining

TEST_F(Pop3ServerTest, PipelinedCommandsAnsweredInOrder) {
  log_in();
  EXPECT_EQ(send("STAT\r\nLIST\r\nUIDL 2\r\nDELE 1\r\nNOOP\r\nSTAT\r\nRSET\r\nLIST 1\r\n"),
            "+OK 3 600\r\n"
            "+OK 3 messages:\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n"
            "+OK 2 uid-b\r\n"
            "+OK Marked to be deleted.\r\n"
            "+OK\r\n"
            "+OK 2 500\r\n"
            "+OK\r\n"
            "+OK 1 100\r\n");
}

TEST_F(Pop3ServerTest, PipelinedRetrInTheMiddleWaits) {
  log_in();
  EXPECT_EQ(send("STAT\r\nRETR 1\r\nDELE 1\r\nTOP 2 3\r\nQUIT\r\n"), "+OK 3 600\r\n[RETR 0][WAIT]");
  EXPECT_EQ(server_->buffered_input(), "DELE 1\r\nTOP 2 3\r\nQUIT\r\n"s.size());
  EXPECT_EQ(server_->retrieve_started(), "+OK 100 octets\r\n");
  EXPECT_EQ(drain(), "[WAIT]");
  server_->retrieve_finished();
  EXPECT_EQ(drain(), "+OK Marked to be deleted.\r\n[TOP 1 3][WAIT]");
  EXPECT_EQ(server_->retrieve_started(), "+OK\r\n");
  server_->retrieve_finished();
  EXPECT_EQ(drain(), "[COMMIT 0][WAIT]");
}

TEST_F(Pop3ServerTest, InputArrivingWhileWaitingIsKept) {
  log_in();
  EXPECT_EQ(send("RETR 1\r\nNO"), "[RETR 0][WAIT]");
  EXPECT_EQ(send("OP\r\n"), "[WAIT]");
  server_->retrieve_started();
  server_->retrieve_finished();
  EXPECT_EQ(drain(), "+OK\r\n");
}

TEST_F(Pop3ServerTest, WantsInputFollowsTheBufferLimit) {
  Options options;
  options.limits.max_buffered_input = 32;
  start(options);
  log_in();
  send("RETR 1\r\n");
  EXPECT_TRUE(server_->wants_input());
  server_->receive(std::string(40, 'x'));
  EXPECT_FALSE(server_->wants_input());
}

// A session that completes every action at once: the same exchange must give the same bytes
// however the input is cut.
class AutoSession {
 public:
  AutoSession() : server_(Options{}) {}

  void feed(std::string_view bytes) {
    if (closed_) return;
    server_.receive(bytes);
    pump();
  }
  const std::string& output() const { return out_; }
  const std::string& replies() const { return replies_; }  // server text only, no client echoes

 private:
  void pump() {
    for (;;) {
      Event event = server_.next_event();
      if (std::holds_alternative<NeedInput>(event)) return;
      if (std::holds_alternative<Waiting>(event)) {
        out_ += "[STUCK]";
        return;
      }
      out_ += render(event);
      if (const auto* reply = std::get_if<SendReply>(&event)) replies_ += reply->bytes;
      if (const auto* auth = std::get_if<Authenticate>(&event)) {
        if (auth->password.reveal() == "secret") {
          server_.auth_succeeded(kBodies);
        } else {
          server_.auth_failed(ErrorKind::Auth);
        }
      } else if (const auto* retrieve = std::get_if<Retrieve>(&event)) {
        const std::string status = server_.retrieve_started();
        out_ += status;
        replies_ += status;
        stream(kBodyText[retrieve->index], retrieve->top_lines);
        server_.retrieve_finished();
      } else if (std::holds_alternative<Commit>(event)) {
        server_.commit_succeeded();
      } else if (std::holds_alternative<Close>(event)) {
        closed_ = true;
        return;
      }
    }
  }
  void stream(std::string_view body, std::optional<uint64_t> top_lines) {
    DotStuffer stuffer;
    if (top_lines) {
      TopFilter filter(*top_lines);
      body = body.substr(0, filter.feed(body));
    }
    stuffer.feed(body, out_);
    stuffer.finish(out_);
  }

  static inline const std::string kBodyText[] = {"Subject: one\r\n\r\n.hidden\r\nline 2\r\n",
                                                 "Subject: two\n\nbody\n"};
  static inline const std::vector<MessageListing> kBodies = {{33, "one"}, {22, "two"}};

  Pop3Server server_;
  std::string out_;
  std::string replies_;
  bool closed_ = false;
};

const std::string kScript =
    "CAPA\r\n"
    "NOOP\r\n"
    "USER bob\r\n"
    "PASS wrong\r\n"
    "AUTH PLAIN\r\n"
    "AGJvYgBzZWNyZXQ=\r\n"
    "STAT\r\n"
    "LIST\n"
    "RETR 1\r\n"
    "TOP 2 0\r\n"
    "\x01\x02garbage\xff\r\n" +
    std::string(600, 'L') +
    "\r\n"
    "DELE 2\r\n"
    "UIDL\r\n"
    "RETR 2\r\n"
    "QUIT\r\n"
    "NOOP\r\n";

TEST(Pop3ServerPipelining, WholeScriptInOneReceive) {
  AutoSession session;
  session.feed(kScript);
  EXPECT_EQ(session.output(), std::string(kCapaAuthorization) +
                                  "-ERR Unknown command in this state.\r\n"
                                  "+OK\r\n"
                                  "[AUTH USER bob:wrong]-ERR [AUTH] Authentication failed.\r\n"
                                  "+ \r\n"
                                  "[AUTH PLAIN bob:secret]+OK Logged in.\r\n"
                                  "+OK 2 55\r\n"
                                  "+OK 2 messages:\r\n1 33\r\n2 22\r\n.\r\n"
                                  "[RETR 0]+OK 33 octets\r\nSubject: one\r\n\r\n..hidden\r\nline 2\r\n.\r\n"
                                  "[TOP 1 0]+OK\r\nSubject: two\r\n\r\n.\r\n"
                                  "-ERR Unknown command: ??GARBAGE?.\r\n"
                                  "-ERR Line too long.\r\n"
                                  "+OK Marked to be deleted.\r\n"
                                  "+OK\r\n1 one\r\n.\r\n"
                                  "-ERR Message is deleted.\r\n"
                                  "[COMMIT 1]+OK Logging out.\r\n[CLOSE]");
}

TEST(Pop3ServerPipelining, SameBytesOneAtATime) {
  AutoSession whole;
  whole.feed(kScript);
  AutoSession bytewise;
  for (const char c : kScript) bytewise.feed(std::string_view(&c, 1));
  EXPECT_EQ(bytewise.output(), whole.output());
}

TEST(Pop3ServerPipelining, SameBytesAtEverySplitPoint) {
  AutoSession whole;
  whole.feed(kScript);
  for (size_t split = 0; split <= kScript.size(); ++split) {
    AutoSession session;
    session.feed(std::string_view(kScript).substr(0, split));
    session.feed(std::string_view(kScript).substr(split));
    ASSERT_EQ(session.output(), whole.output()) << "split at " << split;
  }
}

// ---------------------------------------------------------------- garbage

TEST(Pop3ServerGarbage, RandomBytesNeverCrashAndRepliesStayPrintable) {
  std::mt19937 random(1939);
  for (int round = 0; round < 300; ++round) {
    AutoSession session;
    std::string input;
    const size_t length = random() % 2000;
    for (size_t i = 0; i < length; ++i) {
      // Mostly command-ish text so that some lines parse, with NULs, CRs and 8-bit bytes.
      const unsigned pick = random() % 8;
      const char* const kWords[] = {"USER bob", "PASS secret", "LIST", "RETR 1", "AUTH PLAIN", "STAT"};
      if (pick == 0) {
        input += kWords[random() % 6];
      } else if (pick == 1) {
        input += "\r\n";
      } else {
        input += static_cast<char>(random() % 256);
      }
    }
    size_t pos = 0;
    while (pos < input.size()) {
      const size_t n = 1 + random() % 64;
      session.feed(std::string_view(input).substr(pos, n));
      pos += n;
    }
    for (const char c : session.replies()) {
      const bool ok = (c >= 0x20 && c < 0x7f) || c == '\r' || c == '\n';
      ASSERT_TRUE(ok) << "round " << round << ": octet " << int(static_cast<unsigned char>(c));
    }
  }
}

}  // namespace
}  // namespace popgate::pop3
