// Conformance over both adapters: the response codes a user sees when logging in goes wrong — [AUTH] for
// a wrong password, [IN-USE] for a second session, [SYS/TEMP] when the upstream is down.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/integration/support/conformance_test.h"
#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using ConformanceSession = ConformanceTest;

TEST_P(ConformanceSession, WrongPasswordIsAuthAndTheSessionStaysUsable) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(2)));
  start_popgate();
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.greeting().substr(0, 3), "+OK");
  const std::string refused = gate.login(kUser, "wrong-password");
  EXPECT_EQ(refused.substr(0, 11), "-ERR [AUTH]") << refused;
  EXPECT_EQ(gate.login(kUser, kPassword).substr(0, 3), "+OK") << "retry on the same connection";
  EXPECT_EQ(gate.command("STAT").substr(0, 6), "+OK 2 ");
  quit(gate);
}

TEST_P(ConformanceSession, SecondSessionForTheSameUserIsInUse) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(2)));
  start_popgate();
  auto first = login();
  {
    Pop3Client second(popgate_->port());
    const std::string reply = second.login(kUser, kPassword);
    EXPECT_EQ(reply.substr(0, 13), "-ERR [IN-USE]") << reply;
  }
  EXPECT_EQ(first->command("STAT").substr(0, 6), "+OK 2 ") << "the first session goes on";
  quit(*first);
  EXPECT_EQ(login_when_free(popgate_->port(), kUser, kPassword, std::chrono::seconds(10)).substr(0, 3), "+OK")
      << "the maildrop is free again after QUIT";
}

TEST_P(ConformanceSession, UpstreamDownIsSysTemp) {
  // Nothing listens there: the port was free a moment ago and no server is started.
  const std::string scheme = upstream() == Upstream::Imap ? "imap" : "jmap";
  popgate_ = std::make_unique<PopgateProcess>(
      0, std::vector<std::string>{"--auth-failure-delay", "0"},
      PopgateOptions{.upstream = scheme + "://127.0.0.1:" + std::to_string(free_port())});
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.greeting().substr(0, 3), "+OK");
  const std::string reply = gate.login(kUser, kPassword);
  EXPECT_EQ(reply.substr(0, 15), "-ERR [SYS/TEMP]") << reply;
  EXPECT_EQ(gate.command("QUIT").substr(0, 3), "+OK") << "the session is still there";
}

INSTANTIATE_TEST_SUITE_P(Upstreams, ConformanceSession, kBothUpstreams, UpstreamParamName());

}  // namespace
}  // namespace popgate::integration
