// Pop3Server::close_reason(): why the server ended a session, for the session's log line.
#include <gtest/gtest.h>

#include "protocol/pop3/pop3_server.h"

namespace popgate::pop3 {
namespace {

// Runs events until the server waits; answers Authenticate with an empty maildrop.
void drain(Pop3Server& server) {
  for (;;) {
    Event event = server.next_event();
    if (std::holds_alternative<NeedInput>(event) || std::holds_alternative<Waiting>(event) ||
        std::holds_alternative<Close>(event)) {
      return;
    }
    if (std::holds_alternative<Authenticate>(event)) server.auth_succeeded({});
    if (std::holds_alternative<Commit>(event)) server.commit_succeeded();
  }
}

TEST(Pop3CloseReason, QuitBeforeAndAfterLogin) {
  Pop3Server before(Options{});
  before.receive("QUIT\r\n");
  drain(before);
  EXPECT_EQ(before.close_reason(), CloseReason::Quit);

  Pop3Server after(Options{});
  after.receive("USER a\r\nPASS b\r\nQUIT\r\n");
  drain(after);
  drain(after);
  EXPECT_EQ(after.close_reason(), CloseReason::Quit);
  EXPECT_STREQ(to_string(after.close_reason()), "quit");
}

TEST(Pop3CloseReason, BadCommandsIdleAndShutdown) {
  Pop3Server bad(Options{});
  bad.receive("X\r\nX\r\nX\r\nX\r\n");
  drain(bad);
  EXPECT_EQ(bad.close_reason(), CloseReason::TooManyBadCommands);

  Pop3Server idle(Options{});
  idle.idle_timeout();
  EXPECT_EQ(idle.close_reason(), CloseReason::IdleTimeout);

  Pop3Server down(Options{});
  EXPECT_EQ(down.close_reason(), CloseReason::None);
  down.shutdown();
  EXPECT_EQ(down.close_reason(), CloseReason::Shutdown);
}

}  // namespace
}  // namespace popgate::pop3
