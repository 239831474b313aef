// The per-identity upstream governor end to end: a throttling upstream makes popgate back off (and
// answer logins itself) for that identity, and the cap on concurrent upstream sessions per identity
// holds against a real Dovecot.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "tests/integration/support/corpus.h"
#include "tests/integration/support/eventually.h"
#include "tests/integration/support/fake_imap_server.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

std::string login_reply(uint16_t port, std::string_view user, std::string_view password) {
  Pop3Client client(port);
  return client.login(user, password);
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST(UpstreamThrottle, AThrottledIdentityBacksOffWithoutAskingTheUpstreamThenTriesAgain) {
  // A scripted upstream: no real server throttles on demand. This is the answer Exchange Online
  // gives a mailbox it is throttling (RFC 5530 [UNAVAILABLE], and a number that means nothing
  // documented, so popgate uses its own backoff).
  FakeImapScript script;
  script.login_answer = "NO [UNAVAILABLE] Server Unavailable. 15";
  FakeImapServer upstream(script);
  PopgateOptions options;
  options.admin = true;
  // A 5 s backoff: long enough that the two logins below certainly fall inside it.
  PopgateProcess popgate(upstream.port(), {"--auth-failure-delay", "0", "--upstream-backoff", "5"}, options);

  EXPECT_TRUE(starts_with(login_reply(popgate.port(), "alice", "pw"), "-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(upstream.logins(), 1);
  EXPECT_EQ(popgate.metric("popgate_upstream_throttled_total"), 1.0);

  // Within the backoff popgate answers alice itself: no login reaches the upstream (logins, not
  // connections: the readiness probe connects too).
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(starts_with(login_reply(popgate.port(), "alice", "pw"), "-ERR [LOGIN-DELAY]")) << i;
  }
  EXPECT_EQ(upstream.logins(), 1);
  EXPECT_EQ(popgate.metric("popgate_upstream_backoff_refusals_total"), 2.0);

  // Another identity is not held back by alice's backoff.
  EXPECT_TRUE(starts_with(login_reply(popgate.port(), "bob", "pw"), "-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(upstream.logins(), 2);

  // Once the backoff is over, alice's next login goes upstream again.
  EXPECT_TRUE(eventually([&] {
    const std::string reply = login_reply(popgate.port(), "alice", "pw");
    EXPECT_TRUE(starts_with(reply, "-ERR [LOGIN-DELAY]")) << reply;
    return upstream.logins() == 3;
  })) << popgate.log_text();
  EXPECT_EQ(popgate.metric("popgate_upstream_throttled_total"), 3.0);
  // And that second throttling answer in a row doubled the backoff: refused without asking again.
  EXPECT_TRUE(starts_with(login_reply(popgate.port(), "alice", "pw"), "-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(upstream.logins(), 3);
}

class UpstreamSessionCap : public MailTest {};

TEST_F(UpstreamSessionCap, TheSessionOverTheCapIsRefusedUntilOneEnds) {
  start_dovecot(make_small_corpus(2));
  PopgateOptions options;
  options.admin = true;
  // No maildrop lock: several sessions of one mailbox at once (many devices, one identity).
  start_popgate({"--max-upstream-sessions-per-identity", "2", "--no-maildrop-lock"}, options);

  auto first = popgate_login();
  auto second = popgate_login();
  EXPECT_TRUE(starts_with(first->command("STAT"), "+OK 2 "));
  EXPECT_TRUE(starts_with(second->command("STAT"), "+OK 2 "));

  EXPECT_TRUE(starts_with(login_reply(popgate_->port(), kUser, kPassword), "-ERR [SYS/TEMP]"));
  EXPECT_EQ(popgate_->metric("popgate_upstream_sessions_capped_total"), 1.0);
  // Another identity has its own sessions.
  auto bob = popgate_login(kOtherUser, kOtherPassword);

  EXPECT_TRUE(starts_with(first->command("QUIT"), "+OK"));
  // The slot comes back when the session and its upstream connection are gone (a tick later).
  std::unique_ptr<Pop3Client> third;
  std::string reply;
  EXPECT_TRUE(eventually([&] {
    third = std::make_unique<Pop3Client>(popgate_->port());
    reply = third->login(kUser, kPassword);
    return starts_with(reply, "+OK");
  })) << reply;
  EXPECT_TRUE(starts_with(third->command("STAT"), "+OK 2 "));
  EXPECT_TRUE(starts_with(second->command("QUIT"), "+OK"));
  EXPECT_TRUE(starts_with(third->command("QUIT"), "+OK"));
}

}  // namespace
}  // namespace popgate::integration
