// Checks of the test rig itself, without popgate: the corpus survives Dovecot's IMAP exactly as its
// POP3 serves it, so "popgate equals the oracle" is a fair expectation.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

// What a POP3 gateway must send for an IMAP BODY[]: RFC 1939 §3 byte-stuffing, plus a CRLF before the
// terminator when the message does not end with one.
std::string reference_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 2);
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  if (!out.empty() && !line_start) out += "\r\n";
  return out;
}

// Dovecot's pop3_uidl_format = %08Xu%08Xv renders LOWER-case hex (its %X modifier prints like "%x"),
// the same as UW ipop3d's "%08lx%08lx"; upper case would need %08XUu%08XUv.
std::string hex_uidl(uint32_t uid, uint32_t uidvalidity) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%08x%08x", uid, uidvalidity);
  return buf;
}

using DovecotOracle = MailTest;

TEST_F(DovecotOracle, ImapBodyStuffedEqualsPop3RetrForTheWholeCorpus) {
  start_dovecot(make_corpus());
  auto imap = imap_select();
  auto oracle = oracle_login();
  const auto uids = imap->uids_and_sizes();
  ASSERT_EQ(uids.size(), corpus_.size());
  EXPECT_EQ(oracle->command("STAT").substr(0, 8), "+OK " + std::to_string(corpus_.size()) + " ");

  std::string expected_list;
  std::string expected_uidl;
  for (size_t i = 0; i < uids.size(); ++i) {
    expected_list += std::to_string(i + 1) + " " + std::to_string(uids[i].second) + "\r\n";
    expected_uidl += std::to_string(i + 1) + " " + hex_uidl(uids[i].first, imap->uid_validity()) + "\r\n";
  }
  EXPECT_TRUE(same_bytes(expected_list, oracle->multiline("LIST").body));
  EXPECT_TRUE(same_bytes(expected_uidl, oracle->multiline("UIDL").body));

  for (size_t i = 0; i < uids.size(); ++i) {
    SCOPED_TRACE("message " + std::to_string(i + 1) + " (" + corpus_[i].label + ")");
    const std::string body = imap->body(uids[i].first);
    EXPECT_EQ(body.size(), uids[i].second);
    Pop3Response retr = oracle->multiline("RETR " + std::to_string(i + 1));
    ASSERT_TRUE(retr.ok()) << retr.status;
    EXPECT_EQ(first_number(retr.status), uids[i].second) << retr.status;
    EXPECT_TRUE(same_bytes(reference_stuff(body), retr.body));
  }
  EXPECT_EQ(oracle->command("QUIT").substr(0, 3), "+OK");
}

TEST_F(DovecotOracle, DeliveryOrderIsMessageNumberOrder) {
  start_dovecot(make_corpus({.include_large = false, .small_count = 20}));
  auto oracle = oracle_login();
  for (size_t n = 1; n <= corpus_.size(); ++n) {
    Pop3Response top = oracle->multiline("TOP " + std::to_string(n) + " 0");
    ASSERT_TRUE(top.ok()) << top.status;
    EXPECT_NE(top.body.find("Subject: " + corpus_[n - 1].label + "\r\n"), std::string::npos)
        << "message " << n << " should be " << corpus_[n - 1].label;
  }
}

TEST_F(DovecotOracle, DirectMaildirDeliveryStoresWhatDoveadmSaveStores) {
  const auto corpus = make_corpus({.include_large = false, .small_count = 0});
  start_dovecot({});
  for (const auto& m : corpus) dovecot_->deliver(kUser, m.bytes);
  const auto started = std::chrono::steady_clock::now();
  for (const auto& m : corpus) dovecot_->deliver_with_doveadm(kUser, m.bytes);
  const auto per_message = (std::chrono::steady_clock::now() - started) / corpus.size();
  std::cerr << "doveadm save: " << std::chrono::duration_cast<std::chrono::microseconds>(per_message).count()
            << " us per message\n";

  auto oracle = oracle_login();
  const size_t n = corpus.size();
  for (size_t i = 1; i <= n; ++i) {
    SCOPED_TRACE(corpus[i - 1].label);
    Pop3Response direct = oracle->multiline("RETR " + std::to_string(i));
    Pop3Response saved = oracle->multiline("RETR " + std::to_string(i + n));
    ASSERT_TRUE(direct.ok() && saved.ok());
    EXPECT_EQ(direct.status, saved.status);
    EXPECT_TRUE(same_bytes(saved.body, direct.body));
  }
}

TEST(Corpus, IsDeterministicAndHasNoNul) {
  const CorpusOptions options{.include_large = true, .large_size = 1 << 20, .small_count = 50};
  const auto a = make_corpus(options);
  const auto b = make_corpus(options);
  ASSERT_EQ(a.size(), 9u + 1u + 50u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].bytes, b[i].bytes) << a[i].label;
    EXPECT_EQ(a[i].bytes.find('\0'), std::string::npos) << a[i].label;
  }
  EXPECT_EQ(message_number(a, "dots"), 1u);
  EXPECT_EQ(message_number(a, "large"), 10u);
  EXPECT_GE(a[message_number(a, "large") - 1].bytes.size(), size_t{1} << 20);
  EXPECT_EQ(message_number(a, "small-049"), 60u);
  EXPECT_NE(a[message_number(a, "no-final-newline") - 1].bytes.back(), '\n');
}

}  // namespace
}  // namespace popgate::integration
