// Upstream session reuse against a real Dovecot: after a clean QUIT the next session of the same
// user and password gets the logged-in IMAP session back (no new upstream login), with a fresh
// snapshot; other passwords, --upstream-reuse-time 0, expiry and the upstream closing the parked
// session all lead to a fresh login.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/corpus.h"
#include "tests/integration/support/eventually.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

size_t count(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

constexpr std::string_view kAliceImapLogin = "imap-login: Info: Login: user=<alice>";
constexpr std::string_view kBobImapLogin = "imap-login: Info: Login: user=<bob>";

// Every test runs one worker: parked sessions belong to one event loop, and with several workers
// the kernel (SO_REUSEPORT) may hand a returning client to another one, which then logs in afresh.
class UpstreamReuse : public MailTest {
 protected:
  // Alice's upstream logins so far, as Dovecot logged them. Dovecot's log process writes
  // asynchronously: a login by bob (IMAP, below popgate) is made and awaited first, so every
  // earlier login of alice has been written by then.
  size_t alice_upstream_logins() {
    const size_t bobs = count(dovecot_->log_text(), kBobImapLogin);
    {
      ImapClient bob(dovecot_->imap_port());
      bob.login(kOtherUser, kOtherPassword);
      bob.logout();
    }
    EXPECT_TRUE(eventually([&] { return count(dovecot_->log_text(), kBobImapLogin) > bobs; }))
        << dovecot_->log_text();
    return count(dovecot_->log_text(), kAliceImapLogin);
  }

  // One polling session through popgate: login, STAT, QUIT. Returns STAT's answer.
  std::string poll(std::string_view password = kPassword) {
    Pop3Client client(popgate_->port());
    std::string reply = client.login(kUser, password);
    if (reply.rfind("+OK", 0) != 0) return reply;
    std::string stat = client.command("STAT");
    EXPECT_EQ(client.command("QUIT").rfind("+OK", 0), 0u);
    return stat;
  }

  size_t popgate_reused_logins() { return count(popgate_->log_text(), "upstream_reused=true"); }

  // Appends a message to alice's INBOX over IMAP, as another mail client or the MTA would.
  void deliver_between_sessions() {
    dovecot_->deliver(kUser, "From: x@example.org\r\nSubject: between\r\n\r\nnew mail\r\n");
  }
};

TEST_F(UpstreamReuse, ASecondSessionSkipsTheUpstreamLoginAndSeesNewMailButNotDeletedMail) {
  start_dovecot(make_small_corpus(3));
  PopgateOptions options;
  options.admin = true;
  start_popgate({"--upstream-reuse-time", "60", "--workers", "1"}, options);
  const size_t before = alice_upstream_logins();

  {
    auto first = popgate_login();
    EXPECT_EQ(first->command("STAT").rfind("+OK 3 ", 0), 0u);
    EXPECT_EQ(first->command("DELE 1").rfind("+OK", 0), 0u);
    EXPECT_EQ(first->command("QUIT").rfind("+OK", 0), 0u);
  }
  ASSERT_TRUE(eventually([&] { return popgate_->metric("popgate_upstream_parked_connections") == 1.0; }))
      << popgate_->log_text();
  deliver_between_sessions();

  {
    auto second = popgate_login();
    // The first message is gone, the one delivered in between is there: 3 - 1 + 1.
    EXPECT_EQ(second->command("STAT").rfind("+OK 3 ", 0), 0u);
    const Pop3Response top = second->multiline("TOP 3 0");
    EXPECT_NE(top.body.find("Subject: between"), std::string::npos) << top.body;
    EXPECT_EQ(second->command("QUIT").rfind("+OK", 0), 0u);
  }
  EXPECT_EQ(alice_upstream_logins() - before, 1u) << "the second session logged in again:\n"
                                                  << dovecot_->log_text();
  EXPECT_EQ(popgate_reused_logins(), 1u);
  EXPECT_EQ(imap_uids().size(), 3u);
  EXPECT_EQ(popgate_->metric("popgate_upstream_reuse_total"), 2.0) << "one miss, one hit";
}

TEST_F(UpstreamReuse, AWrongPasswordIsRefusedAndDoesNotGetTheParkedSession) {
  start_dovecot(make_small_corpus(2));
  start_popgate({"--upstream-reuse-time", "60", "--workers", "1"});
  const size_t before = alice_upstream_logins();
  EXPECT_EQ(poll().rfind("+OK 2 ", 0), 0u);
  EXPECT_EQ(poll("not-her-password"), "-ERR [AUTH] Authentication failed.");
  EXPECT_EQ(alice_upstream_logins() - before, 1u) << "only the right password logged in";
  EXPECT_EQ(popgate_reused_logins(), 0u);
  // The parked session is still there for alice's real password.
  EXPECT_EQ(poll().rfind("+OK 2 ", 0), 0u);
  EXPECT_EQ(popgate_reused_logins(), 1u);
  EXPECT_EQ(alice_upstream_logins() - before, 1u);
}

TEST_F(UpstreamReuse, ReuseTimeZeroLogsInEverySession) {
  start_dovecot(make_small_corpus(1));
  start_popgate({"--upstream-reuse-time", "0", "--workers", "1"});
  const size_t before = alice_upstream_logins();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(poll().rfind("+OK 1 ", 0), 0u);
  EXPECT_EQ(alice_upstream_logins() - before, 3u);
  EXPECT_EQ(popgate_reused_logins(), 0u);
}

TEST_F(UpstreamReuse, AParkedSessionExpiresAndTheNextSessionLogsInAfresh) {
  start_dovecot(make_small_corpus(1));
  PopgateOptions options;
  options.admin = true;
  start_popgate({"--upstream-reuse-time", "0.2", "--workers", "1"}, options);
  const size_t before = alice_upstream_logins();
  EXPECT_EQ(poll().rfind("+OK 1 ", 0), 0u);
  // Expired: popgate logs out of the parked session (Dovecot sees the LOGOUT).
  ASSERT_TRUE(eventually([&] { return count(popgate_->log_text(), "upstream_park_expired") == 1; }))
      << popgate_->log_text();
  EXPECT_EQ(popgate_->metric("popgate_upstream_parked_connections"), 0.0);
  EXPECT_EQ(poll().rfind("+OK 1 ", 0), 0u);
  EXPECT_EQ(alice_upstream_logins() - before, 2u);
  EXPECT_EQ(popgate_reused_logins(), 0u);
}

TEST_F(UpstreamReuse, TheUpstreamClosingTheParkedSessionLeadsToAFreshWorkingLogin) {
  start_dovecot(make_small_corpus(2));
  PopgateOptions options;
  options.admin = true;
  start_popgate({"--upstream-reuse-time", "60", "--workers", "1"}, options);
  const size_t before = alice_upstream_logins();
  EXPECT_EQ(poll().rfind("+OK 2 ", 0), 0u);
  ASSERT_TRUE(eventually([&] { return popgate_->metric("popgate_upstream_parked_connections") == 1.0; }));

  // Dovecot's own way to end a user's sessions (this test's Dovecot only: its configuration).
  SpawnOptions kick;
  kick.argv = {find_program("doveadm"), "-c", dovecot_->config_path().string(), "kick", std::string(kUser)};
  RunResult kicked = run_program(kick, 30s);
  ASSERT_EQ(kicked.exit_code, 0) << kicked.err;

  // The parked session leaves the pool as soon as the upstream closes it.
  ASSERT_TRUE(eventually([&] { return count(popgate_->log_text(), "upstream_park_closed") == 1; }))
      << popgate_->log_text();
  EXPECT_EQ(popgate_->metric("popgate_upstream_parked_connections"), 0.0);
  EXPECT_EQ(poll().rfind("+OK 2 ", 0), 0u);
  EXPECT_EQ(alice_upstream_logins() - before, 2u);
  EXPECT_EQ(popgate_reused_logins(), 0u);
}

}  // namespace
}  // namespace popgate::integration
