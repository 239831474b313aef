// SIGTERM drains: the listeners close at once, live sessions go on (and a QUIT during the drain is
// a normal UPDATE) until --drain-timeout, then the rest get "-ERR [SYS/TEMP]" without UPDATE, and
// popgate exits 0 by itself. A second SIGTERM skips the wait.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

using Drain = MailTest;
using Clock = std::chrono::steady_clock;

std::vector<uint32_t> uids_of(uint16_t imap_port, std::string_view user, std::string_view password) {
  ImapClient imap(imap_port);
  imap.login(user, password);
  imap.select("INBOX");
  auto uids = imap.uid_search_all();
  imap.logout();
  return uids;
}

bool accepts_connections(uint16_t port) {
  try {
    ::close(connect_loopback(port));
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

// Waits for popgate to exit by itself and expects status 0.
void expect_clean_exit(PopgateProcess& popgate, std::chrono::seconds within) {
  const std::optional<int> status = popgate.wait_for_exit(within);
  ASSERT_TRUE(status.has_value()) << "popgate still runs after the drain:\n" << popgate.log_text();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

TEST_F(Drain, SessionsFinishDuringTheDrainAndTheRestAreShutDownWithoutUpdate) {
  start_dovecot(make_small_corpus(3));
  dovecot_->deliver_all(kOtherUser, make_small_corpus(3));
  start_popgate({"--drain-timeout", "1"});
  auto log = [this] { return popgate_->log_text(); };
  const auto alice_before = imap_uids();
  const auto bob_before = uids_of(dovecot_->imap_port(), kOtherUser, kOtherPassword);
  ASSERT_EQ(bob_before.size(), 3u);

  auto lingering = popgate_login();  // never sends QUIT
  EXPECT_EQ(lingering->command("DELE 1").rfind("+OK", 0), 0u);
  auto quitting = popgate_login(kOtherUser, kOtherPassword);
  EXPECT_EQ(quitting->command("DELE 2").rfind("+OK", 0), 0u);

  const auto sigterm_at = Clock::now();
  popgate_->send_signal(SIGTERM);
  ASSERT_TRUE(wait_for_popgate_events(log, "drain_started", 1)) << log();
  EXPECT_EQ(log_field(popgate_events(log(), "drain_started").at(0), "sessions"), "2");
  EXPECT_FALSE(accepts_connections(popgate_->port())) << "the listener is still open while draining";

  // Both sessions keep working during the drain.
  EXPECT_EQ(lingering->command("NOOP"), "+OK");
  const Pop3Response retr = lingering->multiline("RETR 2");
  EXPECT_TRUE(retr.ok()) << retr.status;
  EXPECT_EQ(dot_unstuff(retr.body), imap_select()->body(alice_before[1]));
  // A QUIT during the drain is a normal UPDATE.
  EXPECT_EQ(quitting->command("QUIT").rfind("+OK", 0), 0u);
  EXPECT_TRUE(quitting->wait_for_close(std::chrono::seconds(5)));
  EXPECT_EQ(uids_of(dovecot_->imap_port(), kOtherUser, kOtherPassword),
            (std::vector<uint32_t>{bob_before[0], bob_before[2]}))
      << "the DELE of the session that quit during the drain";

  // At the drain timeout the session that never quit is told and closed, and deletes nothing.
  lingering->socket().set_timeout(std::chrono::seconds(10));
  EXPECT_EQ(lingering->read_status_line(), "-ERR [SYS/TEMP] Server shutting down.");
  const auto shut_down_after = Clock::now() - sigterm_at;
  EXPECT_GE(shut_down_after, std::chrono::milliseconds(900));
  EXPECT_LT(shut_down_after, std::chrono::seconds(5));
  EXPECT_TRUE(lingering->wait_for_close(std::chrono::seconds(5)));

  expect_clean_exit(*popgate_, std::chrono::seconds(5));
  EXPECT_EQ(imap_uids(), alice_before) << "a session shut down by the drain deleted something";
  const auto finished = popgate_events(log(), "drain_finished");
  ASSERT_EQ(finished.size(), 1u) << log();
  EXPECT_EQ(log_field(finished[0], "sessions"), "2") << finished[0];
  EXPECT_EQ(log_field(finished[0], "finished"), "1") << finished[0];
  EXPECT_EQ(log_field(finished[0], "shut_down"), "1") << finished[0];
}

TEST_F(Drain, SecondSigtermSkipsTheWait) {
  start_dovecot(make_small_corpus(2));
  start_popgate({"--drain-timeout", "60"});
  auto log = [this] { return popgate_->log_text(); };
  const auto before = imap_uids();
  auto gate = popgate_login();
  EXPECT_EQ(gate->command("DELE 1").rfind("+OK", 0), 0u);

  popgate_->send_signal(SIGTERM);
  ASSERT_TRUE(wait_for_popgate_events(log, "drain_started", 1)) << log();
  EXPECT_EQ(gate->command("NOOP"), "+OK");

  const auto second_at = Clock::now();
  popgate_->send_signal(SIGTERM);
  gate->socket().set_timeout(std::chrono::seconds(10));
  EXPECT_EQ(gate->read_status_line(), "-ERR [SYS/TEMP] Server shutting down.");
  EXPECT_LT(Clock::now() - second_at, std::chrono::seconds(5)) << "the second SIGTERM waited for the drain";
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(5)));
  expect_clean_exit(*popgate_, std::chrono::seconds(5));
  EXPECT_EQ(imap_uids(), before);
  EXPECT_EQ(popgate_events(log(), "drain_skipped").size(), 1u) << log();
}

TEST_F(Drain, WithoutSessionsPopgateExitsAtOnce) {
  start_dovecot(make_small_corpus(1));
  start_popgate({"--drain-timeout", "60"});
  const auto sigterm_at = Clock::now();
  popgate_->send_signal(SIGTERM);
  expect_clean_exit(*popgate_, std::chrono::seconds(5));
  EXPECT_LT(Clock::now() - sigterm_at, std::chrono::seconds(5));
  const auto finished = popgate_events(popgate_->log_text(), "drain_finished");
  ASSERT_EQ(finished.size(), 1u) << popgate_->log_text();
  // The fixture's readiness poll may still be connected at SIGTERM; nothing is shut down.
  EXPECT_EQ(log_field(finished[0], "shut_down"), "0") << finished[0];
}

}  // namespace
}  // namespace popgate::integration
