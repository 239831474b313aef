// Abuse limits against a real Dovecot: session limits (total, per address), the connection rate,
// the login throttle, identical answers for unknown users and wrong passwords, --update-timeout.
// Every test also shows that a legitimate session still works while the limit bites. Clients
// bound to 127.0.0.2 are "another address": all of 127.0.0.0/8 is local, but popgate sees a
// different peer.

#include <chrono>
#include <thread>

#include "tests/integration/support/fake_imap_server.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/sourced_client.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kTooMany = "-ERR [SYS/TEMP] Too many connections; try again later.\r\n";
constexpr std::string_view kAuthFailed = "-ERR [AUTH] Authentication failed.\r\n";
constexpr std::string_view kLoginDelay = "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n";

class AbuseLimits : public MailTest {
 protected:
  void SetUp() override { start_dovecot(make_small_corpus(2)); }

  // A connection from `source` that got popgate's greeting, waiting while the refusals last
  // (a finished session gives its place back on popgate's next loop tick).
  std::unique_ptr<SourcedClient> admitted(const char* source, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto client = std::make_unique<SourcedClient>(source, popgate_->port());
      const std::string greeting = client->line();
      if (greeting.rfind("+OK", 0) == 0) return client;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "never admitted from " << source << "; last answer: " << greeting;
        return client;
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  // bob logs in from `source` and his maildrop is there: legitimate use goes on.
  void expect_legitimate_session_works(const char* source) {
    SourcedClient bob(source, popgate_->port());
    ASSERT_EQ(bob.line().substr(0, 3), "+OK");
    EXPECT_EQ(bob.login(kOtherUser, kOtherPassword), "+OK Logged in.\r\n");
    EXPECT_EQ(bob.command("STAT").substr(0, 3), "+OK");
    EXPECT_EQ(bob.command("QUIT"), "+OK Logging out.\r\n");
  }
};

TEST_F(AbuseLimits, PerAddressLimitRefusesThatAddressOnly) {
  start_popgate({"--max-sessions-per-ip", "2"});
  // admitted(): the fixture's own readiness probe was a connection too, until popgate saw it go.
  auto first = admitted("127.0.0.1");
  auto second = admitted("127.0.0.1");

  SourcedClient third("127.0.0.1", popgate_->port());
  EXPECT_EQ(third.line(), kTooMany);
  EXPECT_TRUE(third.closed());

  expect_legitimate_session_works("127.0.0.2");
  // The two sessions of 127.0.0.1 still work, and a place freed is a place given again.
  EXPECT_EQ(first->login(kUser, kPassword), "+OK Logged in.\r\n");
  EXPECT_EQ(second->command("QUIT"), "+OK Logging out.\r\n");
  auto again = admitted("127.0.0.1");
  EXPECT_EQ(again->login(kOtherUser, kOtherPassword), "+OK Logged in.\r\n");
  EXPECT_NE(popgate_->log_text().find("connection_rejected reason=max_sessions_per_ip"), std::string::npos);
}

TEST_F(AbuseLimits, TotalLimitRefusesEveryAddressUntilASessionEnds) {
  start_popgate({"--max-sessions", "2"});
  auto first = admitted("127.0.0.1");  // see above: the readiness probe
  auto second = admitted("127.0.0.1");

  SourcedClient refused("127.0.0.2", popgate_->port());
  EXPECT_EQ(refused.line(), kTooMany);
  EXPECT_TRUE(refused.closed());
  // The sessions in place are untouched.
  EXPECT_EQ(first->login(kUser, kPassword), "+OK Logged in.\r\n");
  EXPECT_EQ(first->command("STAT").substr(0, 3), "+OK");

  EXPECT_EQ(second->command("QUIT"), "+OK Logging out.\r\n");
  second.reset();
  auto bob = admitted("127.0.0.2");
  EXPECT_EQ(bob->login(kOtherUser, kOtherPassword), "+OK Logged in.\r\n");
  EXPECT_NE(popgate_->log_text().find("connection_rejected reason=max_sessions "), std::string::npos);
}

TEST_F(AbuseLimits, ConnectionRateRefusesAFloodFromOneAddress) {
  start_popgate({"--max-connection-rate-per-ip", "1"});
  // One connection a second, bursts of one: twenty in a row cannot all get in unless they took
  // twenty seconds.
  int refused = 0;
  for (int i = 0; i < 20 && refused == 0; ++i) {
    SourcedClient flood("127.0.0.1", popgate_->port());
    const std::string greeting = flood.line();
    if (greeting == kTooMany) {
      ++refused;
      EXPECT_TRUE(flood.closed());
    } else {
      EXPECT_EQ(greeting.substr(0, 3), "+OK") << greeting;
    }
  }
  EXPECT_EQ(refused, 1);
  expect_legitimate_session_works("127.0.0.2");
}

TEST_F(AbuseLimits, RepeatedWrongPasswordsGrowTheDelayThenLoginDelayWhileOthersLogIn) {
  start_popgate({"--auth-failure-delay", "0.2", "--auth-failure-delay-max", "0.8",
                 "--auth-throttle-max-failures", "3", "--auth-throttle-window", "600"});
  SourcedClient attacker("127.0.0.1", popgate_->port());
  ASSERT_EQ(attacker.line().substr(0, 3), "+OK");
  // 0.2 s, 0.4 s, 0.8 s: lower bounds only (a loaded machine is only ever slower).
  const std::chrono::milliseconds expected[] = {200ms, 400ms, 800ms};
  for (auto delay : expected) {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(attacker.login(kUser, "wrong password"), kAuthFailed);
    EXPECT_GE(std::chrono::steady_clock::now() - started, delay);
  }
  // Locked out: even the right password gets [LOGIN-DELAY], and Dovecot is not asked.
  EXPECT_EQ(attacker.login(kUser, kPassword), kLoginDelay);
  SourcedClient elsewhere("127.0.0.2", popgate_->port());
  ASSERT_EQ(elsewhere.line().substr(0, 3), "+OK");
  EXPECT_EQ(elsewhere.login("ALICE", kPassword), kLoginDelay) << "the user, from any address, in any case";

  // bob, from the attacker's own address, is not locked out.
  expect_legitimate_session_works("127.0.0.1");
  EXPECT_NE(popgate_->log_text().find("login_throttled"), std::string::npos);
}

TEST_F(AbuseLimits, UnknownUserAndWrongPasswordGetByteIdenticalAnswers) {
  start_popgate({"--auth-failure-delay", "0.1"});
  SourcedClient client("127.0.0.1", popgate_->port());
  ASSERT_EQ(client.line().substr(0, 3), "+OK");
  const std::string unknown_user_user = client.command("USER nobody-like-this");
  const std::string unknown_user_pass = client.command("PASS " + std::string(kPassword));
  const std::string wrong_password_user = client.command("USER " + std::string(kUser));
  const std::string wrong_password_pass = client.command("PASS not-" + std::string(kPassword));
  EXPECT_EQ(unknown_user_user, wrong_password_user);
  EXPECT_EQ(unknown_user_pass, wrong_password_pass);
  EXPECT_EQ(unknown_user_pass, kAuthFailed);
  // And AUTH PLAIN the same way: base64("\0nobody-like-this\0x") and base64("\0alice\0x").
  EXPECT_EQ(client.command("AUTH PLAIN AG5vYm9keS1saWtlLXRoaXMAeA=="), kAuthFailed);
  EXPECT_EQ(client.command("AUTH PLAIN AGFsaWNlAHg="), kAuthFailed);
}

TEST_F(AbuseLimits, DefaultsLetOrdinaryUseThrough) {
  // A burst of ordinary sessions from one address, a couple of typos: no limit is in the way.
  start_popgate();
  for (int i = 0; i < 30; ++i) {
    SourcedClient client("127.0.0.1", popgate_->port());
    ASSERT_EQ(client.line().substr(0, 3), "+OK") << i;
    if (i % 10 == 0) {
      EXPECT_EQ(client.login(kUser, "typo"), kAuthFailed);
    }
    EXPECT_EQ(client.login(kUser, kPassword), "+OK Logged in.\r\n") << i;
    EXPECT_EQ(client.command("QUIT"), "+OK Logging out.\r\n");
  }
}

class AbuseLimitsTls : public TlsMailTest {};

TEST_F(AbuseLimitsTls, ImplicitTlsListenerRefusesByClosingWithoutAPlaintextLine) {
  start_dovecot(make_small_corpus(1));
  start_tls_popgate({"--max-sessions-per-ip", "1"});
  // One plain session holds 127.0.0.1's only place (once the fixture's readiness probes are gone).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::unique_ptr<SourcedClient> held;
  while (!held && std::chrono::steady_clock::now() < deadline) {
    auto client = std::make_unique<SourcedClient>("127.0.0.1", popgate_->port());
    if (client->line().rfind("+OK", 0) == 0) {
      held = std::move(client);
    } else {
      std::this_thread::sleep_for(20ms);
    }
  }
  ASSERT_TRUE(held) << "never admitted";
  // A TLS client expects a handshake: it gets the close and not one plaintext octet.
  SourcedClient refused("127.0.0.1", popgate_->tls_port());
  EXPECT_EQ(refused.line(), "");
  EXPECT_THROW(TlsPop3Client::implicit_tls(popgate_->tls_port(), trusting_test_ca()), std::runtime_error);
  EXPECT_EQ(held->login(kUser, kPassword), "+OK Logged in.\r\n");
}

// Dovecot answers STORE and EXPUNGE at once; only a scripted upstream can hang in the middle of
// UPDATE, so this one test uses the fake.
TEST(AbuseLimitsUpdate, StalledUpdateIsSysTempAfterTheUpdateTimeout) {
  FakeImapServer upstream({.stall_on_update = true});
  PopgateProcess popgate(upstream.port(), {"--update-timeout", "1", "--auth-failure-delay", "0"});
  Pop3Client client(popgate.port());
  ASSERT_EQ(client.login(kUser, kPassword).substr(0, 3), "+OK");
  EXPECT_EQ(client.command("DELE 1").substr(0, 3), "+OK");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(client.command("QUIT"), "-ERR [SYS/TEMP] Some deleted messages were not removed.");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  EXPECT_TRUE(client.wait_for_close(10s));
  EXPECT_NE(popgate.log_text().find("--update-timeout"), std::string::npos) << popgate.log_text();
}

}  // namespace
}  // namespace popgate::integration
