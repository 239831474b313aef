// Conformance over both adapters: what DELE does to the upstream mailbox (only after QUIT, never on a
// dropped connection or after RSET, as --delete-mode says), and a message removed by another client.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/conformance_test.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using ConformanceDeletion = ConformanceTest;

TEST_P(ConformanceDeletion, DeleAndQuitRemoveExactlyThoseMessages) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(5)));
  start_popgate();
  auto gate = login();
  EXPECT_EQ(gate->command("DELE 2").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("DELE 4").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("DELE 4").substr(0, 4), "-ERR") << "already deleted";
  EXPECT_EQ(gate->multiline("RETR 2").status.substr(0, 4), "-ERR") << "a deleted message is not retrieved";
  const uint64_t left = corpus_[0].bytes.size() + corpus_[2].bytes.size() + corpus_[4].bytes.size();
  EXPECT_EQ(gate->command("STAT"), "+OK 3 " + std::to_string(left));
  // RFC 1939 §6: nothing is removed before the UPDATE state, which QUIT begins.
  EXPECT_EQ(stored_uidls(), delivered_uidls_without({}));
  quit(*gate);
  EXPECT_EQ(stored_uidls(), delivered_uidls_without({2, 4}));
}

TEST_P(ConformanceDeletion, DeleAndDroppedConnectionRemoveNothing) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(5)));
  start_popgate();
  auto gate = login();
  EXPECT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("DELE 3").substr(0, 3), "+OK");
  gate->drop();
  // Once popgate has let go of the maildrop the dropped session is over; then look.
  EXPECT_EQ(login_when_free(popgate_->port(), kUser, kPassword, std::chrono::seconds(10)).substr(0, 3),
            "+OK");
  EXPECT_EQ(stored_uidls(), delivered_uidls_without({}));
}

TEST_P(ConformanceDeletion, DeleRsetAndQuitRemoveNothing) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(5)));
  start_popgate();
  auto gate = login();
  EXPECT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("DELE 5").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("RSET").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("STAT").substr(0, 6), "+OK 5 ");
  const Pop3Response retr = gate->multiline("RETR 5");
  ASSERT_TRUE(retr.ok()) << retr.status;
  EXPECT_TRUE(same_bytes(expected_retr(corpus_[4].bytes), dot_unstuff(retr.body)));
  quit(*gate);
  EXPECT_EQ(stored_uidls(), delivered_uidls_without({}));
}

TEST_P(ConformanceDeletion, DeleteModeKeepRemovesNothing) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(4)));
  start_popgate({"--delete-mode", "keep"});
  auto gate = login();
  EXPECT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("DELE 2").substr(0, 3), "+OK");
  quit(*gate);
  EXPECT_EQ(stored_uidls(), delivered_uidls_without({}));
  // And the next session still sees them all.
  auto again = login();
  EXPECT_EQ(again->command("STAT").substr(0, 6), "+OK 4 ");
  quit(*again);
}

TEST_P(ConformanceDeletion, DeleteModeMoveToTrashMovesThem) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(4), /*with_trash=*/true));
  start_popgate({"--delete-mode", "move:Trash"});
  ASSERT_TRUE(stored_uidls("Trash").empty());
  auto gate = login();
  EXPECT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
  EXPECT_EQ(gate->command("DELE 3").substr(0, 3), "+OK");
  quit(*gate);

  EXPECT_EQ(stored_uidls(), delivered_uidls_without({1, 3}));
  EXPECT_EQ(stored_uidls("Trash").size(), 2u);
  const std::vector<std::string> trash = store_->bodies("Trash");
  ASSERT_EQ(trash.size(), 2u);
  EXPECT_TRUE(same_bytes(corpus_[0].bytes, trash[0]));
  EXPECT_TRUE(same_bytes(corpus_[2].bytes, trash[1]));
}

TEST_P(ConformanceDeletion, MessageRemovedByAnotherClientIsErrAndTheSessionGoesOn) {
  ASSERT_NO_FATAL_FAILURE(start_store(small_conformance_corpus(4)));
  start_popgate();
  auto gate = login();
  EXPECT_EQ(gate->command("STAT").substr(0, 6), "+OK 4 ");

  store_->remove_as_other_client(delivered_[1]);
  // Cyrus still answers 200 with the bytes when the blob of a destroyed (or IMAP-expunged) Email is
  // downloaded, so a download alone does not tell; the IMAP adapter pipelines a NOOP for the same reason.

  const Pop3Response gone = gate->multiline("RETR 2");
  EXPECT_EQ(gone.status.substr(0, 4), "-ERR") << gone.status << "\n" << escape_bytes(gone.body);
  const Pop3Response next = gate->multiline("RETR 3");
  ASSERT_TRUE(next.ok()) << next.status;
  EXPECT_TRUE(same_bytes(expected_retr(corpus_[2].bytes), dot_unstuff(next.body)));
  EXPECT_EQ(gate->command("NOOP").substr(0, 3), "+OK");
  quit(*gate);
  EXPECT_EQ(stored_uidls(), delivered_uidls_without({2})) << "nothing else removed";
}

INSTANTIATE_TEST_SUITE_P(Upstreams, ConformanceDeletion, kBothUpstreams, UpstreamParamName());

}  // namespace
}  // namespace popgate::integration
