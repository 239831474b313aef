// JmapMailbox itself against a real Cyrus: a listing that takes several pages, and a download.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "adapters/jmap/jmap_mailbox.h"
#include "tests/integration/support/cyrus_server.h"

namespace popgate::integration {
namespace {

struct CollectingSink final : BodySink {
  void on_body_start() override { ++starts; }
  bool on_body_chunk(std::string_view chunk) override {
    body.append(chunk);
    return true;
  }
  int starts = 0;
  std::string body;
};

bool run_until(io::Loop& loop, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_nowait();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return true;
}

TEST(JmapMailboxPaging, ListingOverSeveralPagesIsCompleteAndInOrder) {
  CyrusServer cyrus;
  cyrus.add_user("alice", "s3cret");
  cyrus.start();
  std::vector<std::string> stored;
  for (int i = 0; i < 7; ++i) {
    stored.push_back("Subject: page test " + std::to_string(i) + "\r\n\r\nbody " + std::to_string(i) +
                     "\r\n");
    cyrus.deliver("alice", stored.back());
  }
  const auto upstream = cyrus.messages("alice");
  ASSERT_EQ(upstream.size(), 7u);

  io::Loop loop;
  JmapSettings settings;
  settings.session_url = *io::HttpUrl::parse(cyrus.jmap_session_url());
  settings.page_limit = 3;  // 7 messages: pages of 3, 3 and 1
  JmapMailbox mailbox(loop, settings);
  std::optional<Result<Snapshot>> opened;
  mailbox.open(Credentials{"USER", "alice", SecretString("s3cret")},
               [&](Result<Snapshot> result) { opened.emplace(std::move(result)); });
  ASSERT_TRUE(run_until(loop, [&] { return opened.has_value(); }));
  ASSERT_TRUE(opened->ok()) << opened->error().detail;
  const Snapshot& snapshot = opened->value();
  ASSERT_EQ(snapshot.messages.size(), 7u);
  for (size_t i = 0; i < upstream.size(); ++i) {
    // Delivered one second apart, so receivedAt order is delivery (UID) order.
    EXPECT_EQ(snapshot.messages[i].upstream_id, upstream[i].email_id) << i;
    EXPECT_EQ(snapshot.messages[i].size, stored[i].size()) << i;
    EXPECT_EQ(snapshot.messages[i].uidl, upstream[i].email_id) << i;
  }

  CollectingSink sink;
  std::optional<Status> fetched;
  mailbox.fetch(snapshot.messages[5], FetchKind::Whole, sink,
                [&](Status status) { fetched.emplace(status); });
  ASSERT_TRUE(run_until(loop, [&] { return fetched.has_value(); }));
  ASSERT_TRUE(fetched->ok()) << fetched->error().detail;
  EXPECT_EQ(sink.starts, 1);
  EXPECT_EQ(sink.body, stored[5]);
}

}  // namespace
}  // namespace popgate::integration
