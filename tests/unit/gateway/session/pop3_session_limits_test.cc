// Pop3Session's abuse limits against a scripted Mailbox: the login throttle and --update-timeout.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

class Pop3SessionLimitsTest : public testing::SessionHarness {
 protected:
  Pop3SessionLimitsTest() : SessionHarness({.auth_throttle = true}) {
    config_->auth_failure_delay_ms = 1;
    config_->auth_failure_delay_max_ms = 4;
    config_->auth_throttle_max_failures = 3;
    config_->auth_throttle_max_failures_per_ip = 100;
    upstream_.messages = {{{"11", 22, "UIDL-A"}, "Subject: a\r\n\r\nbody one\r\n"}};
  }

  std::string login(Client& client, std::string_view user, std::string_view password) {
    EXPECT_EQ(command(client, "USER " + std::string(user)), "+OK\r\n");
    return command(client, "PASS " + std::string(password));
  }
};

TEST_F(Pop3SessionLimitsTest, RepeatedFailuresLockTheUserOutWithoutAskingTheUpstream) {
  Client& client = connect_and_read_greeting();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(login(client, "alice", "wrong"), "-ERR [AUTH] Authentication failed.\r\n") << i;
  }
  // The right password now: were the upstream asked, this would log in.
  EXPECT_EQ(login(client, "alice", "secret"), "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n");
  EXPECT_EQ(upstream_.live_mailboxes, 0u);
  // In any case spelling, and from a new connection.
  Client& again = connect_and_read_greeting();
  EXPECT_EQ(login(again, "ALICE", "secret"), "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n");
}

TEST_F(Pop3SessionLimitsTest, AnotherUserLogsInWhileOneIsLockedOut) {
  Client& attacker = connect_and_read_greeting();
  for (int i = 0; i < 4; ++i) login(attacker, "alice", "wrong");
  Client& bob = connect_and_read_greeting();
  EXPECT_EQ(login(bob, "bob", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(bob, "STAT"), "+OK 1 22\r\n");
}

TEST_F(Pop3SessionLimitsTest, AddressLockOutCoversEveryName) {
  config_->auth_throttle_max_failures_per_ip = 2;
  Client& client = connect_and_read_greeting();
  login(client, "user1", "wrong");
  login(client, "user2", "wrong");
  EXPECT_EQ(login(client, "bob", "secret"), "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n");
}

TEST_F(Pop3SessionLimitsTest, SuccessResetsTheUsersCount) {
  Client& client = connect_and_read_greeting();
  login(client, "alice", "wrong");
  login(client, "alice", "wrong");
  EXPECT_EQ(login(client, "alice", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_TRUE(run_until([&] { return locks_.held() == 0; }));
  // Two more failures do not reach the threshold of three: the earlier two were forgotten.
  Client& next = connect_and_read_greeting();
  login(next, "alice", "wrong");
  login(next, "alice", "wrong");
  EXPECT_EQ(login(next, "alice", "secret"), "+OK Logged in.\r\n");
}

TEST_F(Pop3SessionLimitsTest, UnknownUserAndWrongPasswordAreAnsweredAlike) {
  // The fake upstream, like popgate, cannot tell the two apart; what matters here is that the
  // session's answer does not depend on the name either.
  Client& client = connect_and_read_greeting();
  const std::string wrong_password = login(client, "alice", "wrong");
  const std::string unknown_user = login(client, "nobody-here", "wrong");
  EXPECT_EQ(wrong_password, unknown_user);
  EXPECT_EQ(wrong_password, "-ERR [AUTH] Authentication failed.\r\n");
}

TEST_F(Pop3SessionLimitsTest, StalledUpdateIsSysTempAndClosesAfterTheUpdateTimeout) {
  config_->update_timeout_ms = 50;
  upstream_.stall_commit = true;
  Client& client = connect_and_read_greeting();
  ASSERT_EQ(login(client, "alice", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(client, "DELE 1"), "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(command(client, "QUIT"), "-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n");
  EXPECT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(client.io->ended);
  EXPECT_TRUE(upstream_.commits.empty());
}

TEST_F(Pop3SessionLimitsTest, QuickUpdateIsNotCutByTheUpdateTimeout) {
  config_->update_timeout_ms = 60'000;
  Client& client = connect_and_read_greeting();
  ASSERT_EQ(login(client, "alice", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(client, "DELE 1"), "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_EQ(upstream_.commits.size(), 1u);
  EXPECT_EQ(upstream_.commits[0], std::vector<std::string>{"11"});
}

}  // namespace
}  // namespace popgate
