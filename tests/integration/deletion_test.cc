// What only an IMAP look at Dovecot's mailbox shows: --delete-mode move:Trash leaves no \Deleted flag on the
// moved copies, and RETR sets \Seen only with --mark-seen (TOP never). What DELE does on both adapters
// (only after QUIT, never on a dropped connection or after RSET, as --delete-mode says) is
// conformance_deletion_test.cc.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using Deletion = MailTest;

std::vector<uint32_t> without(std::vector<uint32_t> uids, std::initializer_list<size_t> message_numbers) {
  std::vector<uint32_t> gone;
  for (size_t n : message_numbers) gone.push_back(uids.at(n - 1));
  std::erase_if(uids, [&](uint32_t uid) { return std::find(gone.begin(), gone.end(), uid) != gone.end(); });
  return uids;
}

TEST_F(Deletion, DeleteModeMoveToTrashMovesTheMessages) {
  start_dovecot(make_small_corpus(4), {"Trash"});
  start_popgate({"--delete-mode", "move:Trash"});
  const auto before = imap_uids();
  ASSERT_TRUE(imap_uids("Trash").empty());

  auto gate = popgate_login();
  EXPECT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("DELE 3").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(10)));

  EXPECT_EQ(imap_uids(), without(before, {1, 3}));
  auto trash = imap_select("Trash");
  const auto moved = trash->uid_search_all();
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_TRUE(same_bytes(corpus_[0].bytes, trash->body(moved[0])));
  EXPECT_TRUE(same_bytes(corpus_[2].bytes, trash->body(moved[1])));
  EXPECT_EQ(trash->flags(moved[0]).find("\\Deleted"), std::string::npos) << "moved, not just flagged";
}

class MarkSeen : public MailTest, public ::testing::WithParamInterface<bool> {};

TEST_P(MarkSeen, RetrSetsSeenOnlyWithMarkSeen) {
  const bool mark_seen = GetParam();
  start_dovecot(make_small_corpus(3));
  start_popgate(mark_seen ? std::vector<std::string>{"--mark-seen"} : std::vector<std::string>{});
  const auto uids = imap_uids();

  auto gate = popgate_login();
  EXPECT_EQ(gate->multiline("RETR 1").status.substr(0, 3), "+OK");
  EXPECT_EQ(gate->multiline("TOP 2 0").status.substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(10)));

  auto imap = imap_select();
  const std::string retrieved = imap->flags(uids[0]);
  EXPECT_EQ(retrieved.find("\\Seen") != std::string::npos, mark_seen)
      << "flags of RETR'd message: " << retrieved;
  const std::string topped = imap->flags(uids[1]);
  EXPECT_EQ(topped.find("\\Seen"), std::string::npos) << "TOP must not set \\Seen: " << topped;
  const std::string untouched = imap->flags(uids[2]);
  EXPECT_EQ(untouched.find("\\Seen"), std::string::npos) << untouched;
}

INSTANTIATE_TEST_SUITE_P(Flags, MarkSeen, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "WithMarkSeen" : "Default"; });

}  // namespace
}  // namespace popgate::integration
