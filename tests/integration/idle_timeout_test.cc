// --idle-timeout: an idle session gets "-ERR" and is closed, and its DELEs are not applied
// (RFC 1939 §3: an autologout timer does not enter the UPDATE state).
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using IdleTimeout = MailTest;

TEST_F(IdleTimeout, IdleSessionIsClosedWithErrAndNothingIsDeleted) {
  start_dovecot(make_small_corpus(3));
  start_popgate({"--idle-timeout", "1"});
  const auto before = imap_uids();

  auto gate = popgate_login();
  EXPECT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
  // Activity keeps the session alive past the timeout...
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    EXPECT_EQ(gate->command("NOOP").substr(0, 3), "+OK") << "NOOP " << i << " after 600 ms";
  }
  // ...silence does not.
  const auto idle_since = std::chrono::steady_clock::now();
  gate->socket().set_timeout(std::chrono::seconds(10));
  const std::string farewell = gate->read_status_line();
  const auto idle_for = std::chrono::steady_clock::now() - idle_since;
  EXPECT_EQ(farewell.substr(0, 4), "-ERR") << farewell;
  EXPECT_GE(idle_for, std::chrono::milliseconds(900));
  EXPECT_LT(idle_for, std::chrono::seconds(5));
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(5))) << "connection still open after the timeout";

  EXPECT_EQ(login_when_free(popgate_->port(), kUser, kPassword, std::chrono::seconds(10)).substr(0, 3),
            "+OK");
  EXPECT_EQ(imap_uids(), before);
}

}  // namespace
}  // namespace popgate::integration
