// Pop3Session with the UpstreamGovernor, against a scripted Mailbox: a throttled login backs the
// identity off without a new upstream login, and the per-identity session cap with its release.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using testing::FakeMailboxFactory;

// Counts the upstream logins attempted (one Mailbox each).
class CountingFactory final : public MailboxFactory {
 public:
  explicit CountingFactory(std::unique_ptr<MailboxFactory> inner) : inner_(std::move(inner)) {}
  MailboxPtr create() override {
    ++created;
    return inner_->create();
  }
  int created = 0;

 private:
  std::unique_ptr<MailboxFactory> inner_;
};

class Pop3SessionGovernorTest : public testing::SessionHarness {
 protected:
  Pop3SessionGovernorTest() : SessionHarness({.upstream_governor = true}) {
    config_->auth_failure_delay_ms = 1;
    config_->maildrop_lock = false;  // several sessions of one mailbox: the cap is what limits them
    config_->max_upstream_sessions_per_identity = 2;
    config_->upstream_backoff_ms = 60'000;  // longer than any test: "within the backoff" is certain
    upstream_.messages = {{{"11", 22, "UIDL-A"}, "Subject: a\r\n\r\nbody one\r\n"}};
  }

  void TearDown() override {
    SessionHarness::TearDown();
    // Every slot came back with its mailbox.
    EXPECT_EQ(upstream_governor_.open_sessions(UpstreamGovernor::identity_key("default", "alice", "")), 0u);
  }

  std::string login(Client& client, std::string_view user) {
    EXPECT_EQ(command(client, "USER " + std::string(user)), "+OK\r\n");
    return command(client, "PASS secret");
  }

  double counter(const std::string& line_prefix) {
    const std::string text = metrics_.serialize();
    const size_t at = text.find("\n" + line_prefix + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + line_prefix.size() + 2));
  }

  CountingFactory& factory_ =
      use_factory(std::make_unique<CountingFactory>(std::make_unique<FakeMailboxFactory>(loop_, upstream_)));
};

TEST_F(Pop3SessionGovernorTest, AThrottledLoginBacksTheIdentityOffWithoutAskingTheUpstreamAgain) {
  upstream_.open_failure = ErrorKind::LoginDelay;  // what the adapters say for a throttling answer
  Client& client = connect_and_read_greeting();
  EXPECT_TRUE(login(client, "alice").starts_with("-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(factory_.created, 1);
  EXPECT_EQ(counter("popgate_upstream_throttled_total{adapter=\"fake\"}"), 1.0);

  upstream_.open_failure.reset();  // the upstream would take it now, but the backoff runs
  Client& again = connect_and_read_greeting();
  EXPECT_TRUE(login(again, "ALICE").starts_with("-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(factory_.created, 1);
  EXPECT_EQ(counter("popgate_upstream_backoff_refusals_total"), 1.0);
  // Another identity goes upstream.
  EXPECT_TRUE(login(again, "bob").starts_with("+OK"));
  EXPECT_EQ(factory_.created, 2);
}

TEST_F(Pop3SessionGovernorTest, TheSessionOverTheCapGetsSysTempUntilOneEnds) {
  Client& first = connect_and_read_greeting();
  Client& second = connect_and_read_greeting();
  Client& third = connect_and_read_greeting();
  EXPECT_TRUE(login(first, "alice").starts_with("+OK"));
  EXPECT_TRUE(login(second, "alice").starts_with("+OK"));
  EXPECT_TRUE(login(third, "alice").starts_with("-ERR [SYS/TEMP]"));
  EXPECT_EQ(factory_.created, 2);
  EXPECT_EQ(counter("popgate_upstream_sessions_capped_total"), 1.0);

  EXPECT_TRUE(command(first, "QUIT").starts_with("+OK"));
  ASSERT_TRUE(run_until([&] { return upstream_.live_mailboxes == 1; }));
  EXPECT_TRUE(login(third, "alice").starts_with("+OK"));
  EXPECT_EQ(factory_.created, 3);
}

}  // namespace
}  // namespace popgate
