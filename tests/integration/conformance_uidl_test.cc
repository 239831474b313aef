// Conformance over both adapters: UIDL is unique, stable across sessions and follows the adapter's scheme
// (IMAP: %08x%08x of UID and UIDVALIDITY, as Dovecot's POP3; JMAP: the Email id).
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/conformance_test.h"

namespace popgate::integration {
namespace {

using ConformanceUidl = ConformanceTest;

// The unique-ids of a UIDL body, in message-number order; each line must be "n id" with n counting up.
std::vector<std::string> unique_ids(const std::string& body) {
  std::vector<std::string> ids;
  for (size_t at = 0; at < body.size();) {
    const size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) {
      ADD_FAILURE() << "UIDL body does not end in CRLF: " << escape_bytes(body.substr(at));
      break;
    }
    const std::string line = body.substr(at, eol - at);
    const std::string number = std::to_string(ids.size() + 1) + " ";
    EXPECT_EQ(line.substr(0, number.size()), number) << line;
    ids.push_back(line.substr(line.find(' ') + 1));
    at = eol + 2;
  }
  return ids;
}

TEST_P(ConformanceUidl, UidlIsUniqueStableAndFollowsTheAdapterScheme) {
  std::vector<CorpusMessage> corpus = small_conformance_corpus(6);
  for (auto& m : conformance_corpus()) {
    if (m.label == "dots" || m.label == "utf8" || m.label == "headers-only") corpus.push_back(std::move(m));
  }
  ASSERT_NO_FATAL_FAILURE(start_store(std::move(corpus)));
  start_popgate();

  std::string first;
  {
    auto gate = login();
    const Pop3Response uidl = gate->multiline("UIDL");
    ASSERT_TRUE(uidl.ok()) << uidl.status;
    first = uidl.body;
    // UIDL n answers the same id on one line.
    for (size_t n : {1u, 4u, 9u}) {
      EXPECT_EQ(gate->command("UIDL " + std::to_string(n)),
                "+OK " + std::to_string(n) + " " + delivered_[n - 1].pop3_uidl);
    }
    EXPECT_EQ(gate->command("UIDL 10").substr(0, 4), "-ERR") << "no message 10";
    quit(*gate);
  }
  {
    auto gate = login();
    const Pop3Response uidl = gate->multiline("UIDL");
    ASSERT_TRUE(uidl.ok()) << uidl.status;
    EXPECT_TRUE(same_bytes(first, uidl.body)) << "the second session";
    quit(*gate);
  }

  const std::vector<std::string> ids = unique_ids(first);
  ASSERT_EQ(ids.size(), corpus_.size());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "not unique: " << first;
  // RFC 1939 §7: 1 to 70 characters in the range 0x21 to 0x7E.
  const std::regex scheme(upstream() == Upstream::Imap ? "[0-9a-f]{16}" : "M[0-9a-f]{24}");
  for (const auto& id : ids) EXPECT_TRUE(std::regex_match(id, scheme)) << id;
  // The ids the store gives the messages: UID and UIDVALIDITY, or the Email id (EMAILID over IMAP,
  // which stored_uidls() also checks against JMAP's Email/query).
  EXPECT_EQ(ids, stored_uidls());
  EXPECT_TRUE(same_bytes(expected_uidl(delivered_), first));
  if (upstream() == Upstream::Imap) {
    auto oracle = oracle_login();
    EXPECT_TRUE(same_bytes(oracle->multiline("UIDL").body, first)) << "Dovecot's POP3 UIDL";
  }
}

INSTANTIATE_TEST_SUITE_P(Upstreams, ConformanceUidl, kBothUpstreams, UpstreamParamName());

}  // namespace
}  // namespace popgate::integration
