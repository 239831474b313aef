// Pop3Server leaves no password in its input buffer once the line that carried it is consumed:
// not in the consumed octets, not where pipelined octets were moved from, not in a grown buffer.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "protocol/pop3/pop3_server.h"

namespace popgate::pop3 {
namespace {

constexpr std::string_view kPassword = "Tr0ub4dor&3-hunter2";
// base64("\0alice\0Tr0ub4dor&3-hunter2"); the decoded password must not survive either.
constexpr std::string_view kPlainResponse = "AGFsaWNlAFRyMHViNGRvciYzLWh1bnRlcjI=";

bool holds(std::string_view memory, std::string_view secret) {
  return memory.find(secret) != std::string_view::npos;
}

// Runs events until the server asks for input or waits; returns the Authenticate seen, if any.
std::optional<Authenticate> run(Pop3Server& server) {
  std::optional<Authenticate> auth;
  for (;;) {
    Event event = server.next_event();
    if (auto* request = std::get_if<Authenticate>(&event)) auth = std::move(*request);
    if (std::holds_alternative<NeedInput>(event) || std::holds_alternative<Waiting>(event)) return auth;
    if (std::holds_alternative<Close>(event)) return auth;
  }
}

TEST(Pop3ServerWipe, PassLineIsGoneOnceConsumed) {
  Pop3Server server{Options{}};
  server.receive("USER alice\r\nPASS " + std::string(kPassword) + "\r\n");
  std::optional<Authenticate> auth = run(server);
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->password.reveal(), kPassword);
  EXPECT_FALSE(holds(server.input_memory_for_testing(), kPassword));
  EXPECT_FALSE(holds(server.input_memory_for_testing(), "PASS"));
}

TEST(Pop3ServerWipe, PassLineArrivingInPiecesLeavesNoCopyBehind) {
  Pop3Server server{Options{}};
  server.receive("USER alice\r\n");
  run(server);
  // Byte by byte: each receive() compacts and appends, and the buffer may grow on the way.
  const std::string line = "PASS " + std::string(kPassword) + "\r\n";
  for (char c : line) {
    server.receive(std::string_view(&c, 1));
    if (run(server)) break;
  }
  EXPECT_FALSE(holds(server.input_memory_for_testing(), kPassword));
}

TEST(Pop3ServerWipe, PipelinedPassAfterALongPrefixIsWipedWhereverItWasMoved) {
  Pop3Server server{Options{}};
  // A partial PASS line behind a long one: the next receive() moves it to the front of the buffer.
  const std::string noise(300, 'x');
  server.receive("USER alice\r\nNOOP " + noise + "\r\nPASS " + std::string(kPassword.substr(0, 8)));
  run(server);
  server.receive(std::string(kPassword.substr(8)) + "\r\n");
  ASSERT_TRUE(run(server));
  EXPECT_FALSE(holds(server.input_memory_for_testing(), kPassword.substr(0, 8)));
  EXPECT_FALSE(holds(server.input_memory_for_testing(), kPassword.substr(8)));
}

TEST(Pop3ServerWipe, AuthPlainContinuationIsWiped) {
  Pop3Server server{Options{}};
  server.receive("AUTH PLAIN\r\n");
  run(server);
  server.receive(std::string(kPlainResponse) + "\r\n");
  std::optional<Authenticate> auth = run(server);
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->password.reveal(), kPassword);
  EXPECT_FALSE(holds(server.input_memory_for_testing(), kPlainResponse));
}

TEST(Pop3ServerWipe, AuthPlainInitialResponseIsWiped) {
  Pop3Server server{Options{}};
  server.receive("AUTH PLAIN " + std::string(kPlainResponse) + "\r\n");
  ASSERT_TRUE(run(server));
  EXPECT_FALSE(holds(server.input_memory_for_testing(), kPlainResponse));
}

TEST(Pop3ServerWipe, OtherCommandsStillWorkAfterWiping) {
  Pop3Server server{Options{}};
  server.receive("USER alice\r\nPASS x\r\n");
  ASSERT_TRUE(run(server));
  server.auth_succeeded({{10, "uid-a"}});
  server.receive("STAT\r\n");
  std::string replies;
  for (;;) {
    Event event = server.next_event();
    if (auto* reply = std::get_if<SendReply>(&event)) replies += reply->bytes;
    if (std::holds_alternative<NeedInput>(event)) break;
  }
  EXPECT_EQ(replies, "+OK Logged in.\r\n+OK 1 10\r\n");
}

}  // namespace
}  // namespace popgate::pop3
