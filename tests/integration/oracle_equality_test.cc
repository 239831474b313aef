// popgate in front of Dovecot's IMAP must serve exactly what Dovecot's own POP3 serves from the same
// Maildir: STAT, LIST, UIDL, every RETR byte for byte, and TOP.
#include <gtest/gtest.h>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using OracleEquality = MailTest;

TEST_F(OracleEquality, StatListUidlAndEveryRetrMatchDovecotPop3) {
  start_dovecot(make_corpus());
  start_popgate();
  auto gate = popgate_login();
  auto oracle = oracle_login();

  const Pop3Listing want = read_listing(*oracle);
  const Pop3Listing got = read_listing(*gate);
  EXPECT_EQ(want.stat, got.stat);
  EXPECT_TRUE(same_bytes(want.list, got.list)) << "LIST";
  EXPECT_TRUE(same_bytes(want.uidl, got.uidl)) << "UIDL";

  for (size_t n = 1; n <= corpus_.size(); ++n) {
    SCOPED_TRACE("RETR " + std::to_string(n) + " (" + corpus_[n - 1].label + ")");
    const Pop3Response expected = oracle->multiline("RETR " + std::to_string(n));
    const Pop3Response actual = gate->multiline("RETR " + std::to_string(n));
    ASSERT_TRUE(expected.ok()) << expected.status;
    ASSERT_TRUE(actual.ok()) << actual.status;
    EXPECT_EQ(first_number(expected.status), first_number(actual.status))
        << "oracle: " << expected.status << " popgate: " << actual.status;
    EXPECT_TRUE(same_bytes(expected.body, actual.body));
  }
  EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
  EXPECT_EQ(oracle->command("QUIT").substr(0, 3), "+OK");
}

TEST_F(OracleEquality, TopMatchesDovecotPop3) {
  start_dovecot(make_corpus({.small_count = 3}));
  start_popgate();
  auto gate = popgate_login();
  auto oracle = oracle_login();
  for (const char* label : {"dots", "bare-lf", "mixed-endings", "utf8", "latin1", "no-final-newline",
                            "headers-only", "headers-no-blank", "long-line", "large", "small-000"}) {
    const std::string n = std::to_string(message_number(corpus_, label));
    for (int lines : {0, 1, 5, 10000}) {
      const std::string top = "TOP " + n + " " + std::to_string(lines);
      SCOPED_TRACE(top + " (" + label + ")");
      const Pop3Response expected = oracle->multiline(top);
      const Pop3Response actual = gate->multiline(top);
      ASSERT_TRUE(expected.ok()) << expected.status;
      ASSERT_TRUE(actual.ok()) << actual.status;
      EXPECT_TRUE(same_bytes(expected.body, actual.body));
    }
  }
  EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
}

TEST_F(OracleEquality, UidlIsStableAcrossSessionsAndAfterDeletions) {
  start_dovecot(make_small_corpus(6));
  start_popgate();
  std::string first;
  {
    auto gate = popgate_login();
    first = gate->multiline("UIDL").body;
    EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
  }
  {
    auto gate = popgate_login();
    EXPECT_TRUE(same_bytes(first, gate->multiline("UIDL").body)) << "second session";
    EXPECT_EQ(gate->command("DELE 2").substr(0, 3), "+OK");
    EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
  }
  auto gate = popgate_login();
  auto oracle = oracle_login();
  const std::string after = gate->multiline("UIDL").body;
  EXPECT_TRUE(same_bytes(oracle->multiline("UIDL").body, after));
  // Message 2 is gone; the others keep their UIDL (only the message numbers move).
  auto unique_ids = [](const std::string& body) {
    std::vector<std::string> ids;
    for (size_t at = 0; at < body.size();) {
      const size_t eol = body.find("\r\n", at);
      const std::string line = body.substr(at, eol - at);
      ids.push_back(line.substr(line.find(' ') + 1));
      at = eol + 2;
    }
    return ids;
  };
  std::vector<std::string> expected = unique_ids(first);
  ASSERT_EQ(expected.size(), 6u);
  expected.erase(expected.begin() + 1);
  EXPECT_EQ(expected, unique_ids(after));
}

}  // namespace
}  // namespace popgate::integration
