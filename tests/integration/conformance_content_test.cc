// Conformance over both adapters: what STAT, LIST, RETR and TOP deliver equals the stored messages byte for
// byte (and, over IMAP, what Dovecot's own POP3 server delivers), pipelined or not.
#include <gtest/gtest.h>

#include <string>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/conformance_test.h"

namespace popgate::integration {
namespace {

using ConformanceContent = ConformanceTest;

// RFC 1939 §3 byte-stuffing, the server side: a line that starts with "." gets another one.
std::string dot_stuff(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 64);
  bool line_start = true;
  for (char c : text) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  return out;
}

uint64_t total_size(const std::vector<CorpusMessage>& corpus) {
  uint64_t total = 0;
  for (const auto& m : corpus) total += m.bytes.size();
  return total;
}

TEST_P(ConformanceContent, StatAndListGiveTheStoredSizes) {
  ASSERT_NO_FATAL_FAILURE(start_store(conformance_corpus()));
  start_popgate();
  auto gate = login();

  const std::string count = std::to_string(corpus_.size());
  EXPECT_EQ(gate->command("STAT"), "+OK " + count + " " + std::to_string(total_size(corpus_)));
  const Pop3Response list = gate->multiline("LIST");
  ASSERT_TRUE(list.ok()) << list.status;
  // delivered_ holds RFC822.SIZE, which start_store() found equal to the corpus sizes.
  EXPECT_TRUE(same_bytes(expected_list(delivered_), list.body));
  for (const char* label : {"dots", "no-final-newline", "large", "small-049"}) {
    const size_t n = message_number(corpus_, label);
    EXPECT_EQ(gate->command("LIST " + std::to_string(n)),
              "+OK " + std::to_string(n) + " " + std::to_string(corpus_[n - 1].bytes.size()))
        << label;
  }
  EXPECT_EQ(gate->command("LIST " + std::to_string(corpus_.size() + 1)).substr(0, 4), "-ERR");

  if (upstream() == Upstream::Imap) {
    auto oracle = oracle_login();
    EXPECT_EQ(oracle->command("STAT"), gate->command("STAT")) << "Dovecot's POP3 and popgate";
    EXPECT_TRUE(same_bytes(oracle->multiline("LIST").body, list.body)) << "Dovecot's POP3 LIST";
  }
  quit(*gate);
}

TEST_P(ConformanceContent, RetrOfEveryMessageIsTheStoredMessage) {
  ASSERT_NO_FATAL_FAILURE(start_store(conformance_corpus()));
  start_popgate();
  auto gate = login();
  std::unique_ptr<Pop3Client> oracle;
  if (upstream() == Upstream::Imap) oracle = oracle_login();

  for (size_t n = 1; n <= corpus_.size(); ++n) {
    const CorpusMessage& message = corpus_[n - 1];
    SCOPED_TRACE("RETR " + std::to_string(n) + " (" + message.label + ")");
    const Pop3Response got = gate->multiline("RETR " + std::to_string(n));
    ASSERT_TRUE(got.ok()) << got.status;
    EXPECT_EQ(first_number(got.status), message.bytes.size()) << got.status;
    // Stuffed exactly where RFC 1939 says, and the stored bytes once unstuffed.
    EXPECT_TRUE(same_bytes(dot_stuff(expected_retr(message.bytes)), got.body));
    EXPECT_TRUE(same_bytes(expected_retr(message.bytes), dot_unstuff(got.body)));
    if (oracle) {
      const Pop3Response want = oracle->multiline("RETR " + std::to_string(n));
      ASSERT_TRUE(want.ok()) << want.status;
      EXPECT_TRUE(same_bytes(want.body, got.body)) << "Dovecot's POP3 RETR";
    }
  }
  quit(*gate);
}

TEST_P(ConformanceContent, TopGivesTheHeaderTheBlankLineAndTheFirstBodyLines) {
  ASSERT_NO_FATAL_FAILURE(start_store(conformance_corpus()));
  start_popgate();
  auto gate = login();
  std::unique_ptr<Pop3Client> oracle;
  if (upstream() == Upstream::Imap) oracle = oracle_login();

  for (const char* label :
       {"dots", "utf8", "latin1", "no-final-newline", "headers-only", "long-line", "large", "small-007"}) {
    const size_t n = message_number(corpus_, label);
    for (size_t lines : {0, 1, 3}) {
      const std::string top = "TOP " + std::to_string(n) + " " + std::to_string(lines);
      SCOPED_TRACE(top + " (" + label + ")");
      const Pop3Response got = gate->multiline(top);
      ASSERT_TRUE(got.ok()) << got.status;
      EXPECT_TRUE(same_bytes(dot_stuff(expected_top(corpus_[n - 1].bytes, lines)), got.body));
      if (oracle) {
        const Pop3Response want = oracle->multiline(top);
        ASSERT_TRUE(want.ok()) << want.status;
        EXPECT_TRUE(same_bytes(want.body, got.body)) << "Dovecot's POP3 TOP";
      }
    }
  }
  // The session goes on after TOP stopped reading a large message early.
  const size_t large = message_number(corpus_, "large");
  const Pop3Response retr = gate->multiline("RETR " + std::to_string(large));
  ASSERT_TRUE(retr.ok()) << retr.status;
  EXPECT_TRUE(same_bytes(expected_retr(corpus_[large - 1].bytes), dot_unstuff(retr.body)));
  quit(*gate);
}

TEST_P(ConformanceContent, PipelinedCommandsAreAnsweredInOrder) {
  ASSERT_NO_FATAL_FAILURE(start_store(conformance_corpus()));
  start_popgate();
  auto gate = login();
  const size_t large = message_number(corpus_, "large");

  gate->send_raw("STAT\r\nRETR " + std::to_string(large) + "\r\nLIST\r\nUIDL\r\nQUIT\r\n");

  EXPECT_EQ(gate->read_status_line(),
            "+OK " + std::to_string(corpus_.size()) + " " + std::to_string(total_size(corpus_)));
  const Pop3Response retr = gate->read_multiline_response();
  ASSERT_TRUE(retr.ok()) << retr.status;
  EXPECT_EQ(first_number(retr.status), corpus_[large - 1].bytes.size()) << retr.status;
  EXPECT_TRUE(same_bytes(expected_retr(corpus_[large - 1].bytes), dot_unstuff(retr.body)));
  const Pop3Response list = gate->read_multiline_response();
  ASSERT_TRUE(list.ok()) << list.status;
  EXPECT_TRUE(same_bytes(expected_list(delivered_), list.body));
  const Pop3Response uidl = gate->read_multiline_response();
  ASSERT_TRUE(uidl.ok()) << uidl.status;
  EXPECT_TRUE(same_bytes(expected_uidl(delivered_), uidl.body));
  EXPECT_EQ(gate->read_status_line().substr(0, 3), "+OK") << "QUIT";
  std::string extra;
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(10), &extra)) << "popgate did not close after QUIT";
  EXPECT_EQ(extra, "") << "nothing after the QUIT reply";
  EXPECT_EQ(stored_uidls(), delivered_uidls_without({})) << "no DELE, nothing removed";
}

INSTANTIATE_TEST_SUITE_P(Upstreams, ConformanceContent, kBothUpstreams, UpstreamParamName());

}  // namespace
}  // namespace popgate::integration
