// JmapMailbox's credentials and "not now" answers: Bearer or Basic, 401, and 429/503 with
// Retry-After at login and later, against a ScriptedJmapServer replaying Cyrus's recorded replies.
#include <gtest/gtest.h>

#include <ctime>
#include <optional>

#include "adapters/jmap/jmap_mailbox.h"
#include "protocol/sasl/base64.h"
#include "tests/unit/adapters/jmap/scripted_jmap_server.h"

namespace popgate {
namespace {

using testing::ScriptedJmapServer;

struct CollectingSink final : BodySink {
  void on_body_start() override {}
  bool on_body_chunk(std::string_view chunk) override {
    body.append(chunk);
    return true;
  }
  std::string body;
};

class JmapMailboxThrottleTest : public ::testing::Test {
 protected:
  JmapMailboxThrottleTest() : server_(loop_) {
    settings_.session_url = *io::HttpUrl::parse(server_.session_url());
    settings_.policy.timeout_ms = 5'000;
  }

  Result<Snapshot> open(JmapMailbox& mailbox, Credentials credentials) {
    std::optional<Result<Snapshot>> opened;
    mailbox.open(std::move(credentials), [&](Result<Snapshot> result) { opened.emplace(std::move(result)); });
    EXPECT_TRUE(io::testing::run_until(loop_, [&] { return opened.has_value(); }));
    if (!opened) return make_error(ErrorKind::Internal, "the test timed out");
    return std::move(*opened);
  }

  Result<Snapshot> open_with_password() {
    mailbox_ = std::make_unique<JmapMailbox>(loop_, settings_);
    return open(*mailbox_, Credentials{"USER", "alice", SecretString("alice-password")});
  }

  // Answers requests for which `matches` holds with `answer`, everything else as Cyrus did.
  void script(std::function<bool(const ScriptedJmapServer::Request&)> matches,
              ScriptedJmapServer::Answer answer) {
    server_.respond = [matches = std::move(matches), answer](const ScriptedJmapServer::Request& request) {
      return matches(request) ? answer : ScriptedJmapServer::recorded_answer(request);
    };
  }

  static bool is_session(const ScriptedJmapServer::Request& request) { return request.method == "GET"; }

  io::Loop loop_;
  ScriptedJmapServer server_;
  JmapSettings settings_;
  std::unique_ptr<JmapMailbox> mailbox_;
};

TEST_F(JmapMailboxThrottleTest, APasswordIsSentAsBasic) {
  auto opened = open_with_password();
  ASSERT_TRUE(opened) << opened.error().detail;
  EXPECT_EQ(opened.value().messages.size(), 4u);
  ASSERT_FALSE(server_.requests.empty());
  for (const auto& request : server_.requests) {
    EXPECT_EQ(request.header("authorization"), "Basic " + sasl::base64_encode("alice:alice-password"));
  }
}

TEST_F(JmapMailboxThrottleTest, ABearerTokenIsSentAsABearerHeaderOnEveryRequest) {
  JmapMailbox mailbox(loop_, settings_);
  const std::string token = "ya29.a0Af-_~+/Token==";
  auto opened =
      open(mailbox, Credentials{"XOAUTH2", "alice", SecretString(token), CredentialKind::BearerToken});
  ASSERT_TRUE(opened) << opened.error().detail;
  EXPECT_EQ(opened.value().messages.size(), 4u);
  ASSERT_EQ(server_.requests.size(), 3u);  // session, Mailbox/get, the one page
  for (const auto& request : server_.requests) EXPECT_EQ(request.header("authorization"), "Bearer " + token);
}

TEST_F(JmapMailboxThrottleTest, ATokenThatIsNotAB64tokenNeverReachesAHeader) {
  JmapMailbox mailbox(loop_, settings_);
  auto opened = open(mailbox, Credentials{"XOAUTH2", "alice", SecretString("abc\r\nX-Injected: yes"),
                                          CredentialKind::BearerToken});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, ErrorKind::Auth);
  EXPECT_EQ(server_.connections, 0u);
}

TEST_F(JmapMailboxThrottleTest, A401IsAuth) {
  script(is_session, {401, {{"WWW-Authenticate", "Bearer"}}, "no"});
  auto opened = open_with_password();
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, ErrorKind::Auth);
}

TEST_F(JmapMailboxThrottleTest, A429AtLoginIsLoginDelayWithTheRetryAfterSeconds) {
  script(is_session, {429, {{"Retry-After", "120"}}, "slow down"});
  auto opened = open_with_password();
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, ErrorKind::LoginDelay);
  EXPECT_EQ(opened.error().retry_after_ms, 120'000u);
}

TEST_F(JmapMailboxThrottleTest, A503OnTheFirstApiCallIsLoginDelayWithTheRetryAfterDate) {
  // An IMF-fixdate a minute ahead; the server and the test read the same clock, so the wait is
  // a minute give or take the second boundary crossed in between.
  const std::time_t later = std::time(nullptr) + 60;
  char date[64];
  std::tm utc{};
  gmtime_r(&later, &utc);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  script([](const auto& request) { return request.body.find("Mailbox/get") != std::string::npos; },
         {503, {{"Retry-After", date}}, "maintenance"});
  auto opened = open_with_password();
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, ErrorKind::LoginDelay);
  EXPECT_GE(opened.error().retry_after_ms, 58'000u);
  EXPECT_LE(opened.error().retry_after_ms, 60'000u);
}

TEST_F(JmapMailboxThrottleTest, A429WithoutAUsableRetryAfterIsLoginDelayWithNoWait) {
  script(is_session, {429, {{"Retry-After", "soon"}}, ""});
  auto opened = open_with_password();
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, ErrorKind::LoginDelay);
  EXPECT_EQ(opened.error().retry_after_ms, 0u);
}

TEST_F(JmapMailboxThrottleTest, OtherServerErrorsAtLoginStayTemporary) {
  script(is_session, {500, {{"Retry-After", "30"}}, "oops"});
  auto opened = open_with_password();
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, ErrorKind::Temporary);
  EXPECT_EQ(opened.error().retry_after_ms, 0u);
}

TEST_F(JmapMailboxThrottleTest, A429AfterLoginIsTemporaryWithTheRetryAfter) {
  auto opened = open_with_password();
  ASSERT_TRUE(opened) << opened.error().detail;
  script([](const auto& request) { return request.body.find("Email/get") != std::string::npos; },
         {429, {{"Retry-After", "7"}}, ""});
  CollectingSink sink;
  std::optional<Status> fetched;
  mailbox_->fetch(opened.value().messages[0], FetchKind::Whole, sink, [&](Status s) { fetched.emplace(s); });
  ASSERT_TRUE(io::testing::run_until(loop_, [&] { return fetched.has_value(); }));
  ASSERT_FALSE(*fetched);
  EXPECT_EQ(fetched->error().kind, ErrorKind::Temporary);
  EXPECT_EQ(fetched->error().retry_after_ms, 7'000u);
}

TEST_F(JmapMailboxThrottleTest, A503OnADownloadIsTemporaryWithTheRetryAfter) {
  auto opened = open_with_password();
  ASSERT_TRUE(opened) << opened.error().detail;
  script([](const auto& request) { return request.target.starts_with("/jmap/download/"); },
         {503, {{"Retry-After", "3"}}, "busy"});
  CollectingSink sink;
  std::optional<Status> fetched;
  mailbox_->fetch(opened.value().messages[1], FetchKind::Whole, sink, [&](Status s) { fetched.emplace(s); });
  ASSERT_TRUE(io::testing::run_until(loop_, [&] { return fetched.has_value(); }));
  ASSERT_FALSE(*fetched);
  EXPECT_EQ(fetched->error().kind, ErrorKind::Temporary);
  EXPECT_EQ(fetched->error().retry_after_ms, 3'000u);
  EXPECT_TRUE(sink.body.empty());
}

}  // namespace
}  // namespace popgate
