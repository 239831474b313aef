// Upstream session reuse over JMAP against a real Cyrus: a parked JmapMailbox reopens on its
// session resource with a fresh snapshot, and popgate hands a second session the parked mailbox.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "adapters/jmap/jmap_mailbox.h"
#include "tests/integration/support/cyrus_server.h"
#include "tests/integration/support/pop3_client.h"
#include "tests/integration/support/popgate_process.h"

namespace popgate::integration {
namespace {

bool run_until(io::Loop& loop, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_nowait();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return true;
}

std::vector<std::string> ids(const Snapshot& snapshot) {
  std::vector<std::string> out;
  for (const auto& message : snapshot.messages) out.push_back(message.upstream_id);
  return out;
}

TEST(UpstreamReuseJmap, AReopenedMailboxSeesNewMailAndNotWhatItDeleted) {
  CyrusServer cyrus;
  cyrus.add_user("alice", "s3cret");
  cyrus.start();
  cyrus.deliver("alice", "Subject: one\r\n\r\nfirst\r\n");
  cyrus.deliver("alice", "Subject: two\r\n\r\nsecond\r\n");

  io::Loop loop;
  JmapSettings settings;
  settings.session_url = *io::HttpUrl::parse(cyrus.jmap_session_url());
  JmapMailbox mailbox(loop, settings);
  EXPECT_FALSE(mailbox.can_park()) << "not opened yet";
  std::optional<Result<Snapshot>> opened;
  mailbox.open(Credentials{"USER", "alice", SecretString("s3cret")},
               [&](Result<Snapshot> result) { opened.emplace(std::move(result)); });
  ASSERT_TRUE(run_until(loop, [&] { return opened.has_value(); }));
  ASSERT_TRUE(opened->ok()) << opened->error().detail;
  ASSERT_EQ(opened->value().messages.size(), 2u);
  const MessageInfo first = opened->value().messages[0];
  const MessageInfo second = opened->value().messages[1];

  std::optional<Status> committed;
  mailbox.commit({first}, [&](Status status) { committed.emplace(std::move(status)); });
  ASSERT_TRUE(run_until(loop, [&] { return committed.has_value(); }));
  ASSERT_TRUE(committed->ok()) << committed->error().detail;
  EXPECT_TRUE(mailbox.can_park());

  cyrus.deliver("alice", "Subject: three\r\n\r\nthird\r\n");
  const auto upstream = cyrus.messages("alice");
  ASSERT_EQ(upstream.size(), 2u);

  std::optional<Result<Snapshot>> reopened;
  mailbox.reopen([&](Result<Snapshot> result) { reopened.emplace(std::move(result)); });
  ASSERT_TRUE(run_until(loop, [&] { return reopened.has_value(); }));
  ASSERT_TRUE(reopened->ok()) << reopened->error().detail;
  EXPECT_EQ(ids(reopened->value()), (std::vector<std::string>{second.upstream_id, upstream[1].email_id}));
  EXPECT_EQ(reopened->value().mailbox_key, opened->value().mailbox_key);
}

TEST(UpstreamReuseJmap, PopgateGivesTheSecondSessionTheParkedMailbox) {
  CyrusServer cyrus;
  cyrus.add_user("alice", "s3cret");
  cyrus.start();
  cyrus.deliver("alice", "Subject: one\r\n\r\nfirst\r\n");
  PopgateProcess popgate(0, {"--auth-failure-delay", "0", "--upstream-reuse-time", "60", "--workers", "1"},
                         {.upstream = "jmap://127.0.0.1:" + std::to_string(cyrus.http_port())});
  {
    Pop3Client client(popgate.port());
    ASSERT_EQ(client.login("alice", "s3cret").rfind("+OK", 0), 0u);
    EXPECT_EQ(client.command("STAT").rfind("+OK 1 ", 0), 0u);
    EXPECT_EQ(client.command("QUIT").rfind("+OK", 0), 0u);
  }
  cyrus.deliver("alice", "Subject: two\r\n\r\nsecond\r\n");
  {
    Pop3Client client(popgate.port());
    ASSERT_EQ(client.login("alice", "s3cret").rfind("+OK", 0), 0u);
    EXPECT_EQ(client.command("STAT").rfind("+OK 2 ", 0), 0u);
    EXPECT_EQ(client.command("QUIT").rfind("+OK", 0), 0u);
  }
  {
    Pop3Client client(popgate.port());
    EXPECT_EQ(client.login("alice", "wrong"), "-ERR [AUTH] Authentication failed.");
  }
  const std::string log = popgate.log_text();
  size_t reused = 0;
  for (size_t at = log.find("upstream_reused=true"); at != std::string::npos;
       at = log.find("upstream_reused=true", at + 1)) {
    ++reused;
  }
  EXPECT_EQ(reused, 1u) << log;
}

}  // namespace
}  // namespace popgate::integration
