// The POP3 conformance suite's fixture: one test body, run against popgate in front of Dovecot (IMAP
// adapter) and in front of Cyrus (JMAP adapter), so the two adapters cannot drift apart.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/support/conformance_store.h"
#include "tests/integration/support/corpus.h"
#include "tests/integration/support/pop3_client.h"
#include "tests/integration/support/popgate_process.h"

namespace popgate::integration {

// The shared corpus, with CRLF line ends (Cyrus refuses bare LF) and every message unique (Cyrus merges
// identical ones): dot lines, a line that is just ".", UTF-8 and Latin-1, no final newline, headers
// only, a 5 MiB message and 50 small ones.
std::vector<CorpusMessage> conformance_corpus();
// `count` small plain messages ("note-1", ...).
std::vector<CorpusMessage> small_conformance_corpus(size_t count);

// What a client has after dot-unstuffing RETR of a stored message: the message itself, plus the CRLF
// that RFC 1939 §3 puts before the terminating "." when the message does not end in one.
std::string expected_retr(std::string_view message);
// RFC 1939 §7 TOP: the header, the blank line, and the first `lines` body lines (after unstuffing).
std::string expected_top(std::string_view message, size_t lines);
// The LIST body ("1 123\r\n2 456\r\n...") for these messages.
std::string expected_list(const std::vector<StoredMessage>& messages);
// The UIDL body ("1 id\r\n2 id\r\n...") for these messages.
std::string expected_uidl(const std::vector<StoredMessage>& messages);

class ConformanceTest : public ::testing::TestWithParam<Upstream> {
 protected:
  void TearDown() override;

  // Starts the store with `corpus` in the INBOX (and a Trash), and checks it holds exactly the corpus.
  void start_store(std::vector<CorpusMessage> corpus, bool with_trash = false);
  // Starts popgate in front of the store with --auth-failure-delay 0 and `args`.
  void start_popgate(std::vector<std::string> args = {});

  // A logged-in session (USER/PASS) as kUser; fails the test if the login is refused.
  std::unique_ptr<Pop3Client> login();
  // Logs in to Dovecot's own POP3 server; only for Upstream::Imap.
  std::unique_ptr<Pop3Client> oracle_login();

  // The UIDLs of what `mailbox` holds now, in UID order, over IMAP; on Cyrus also checked against JMAP.
  std::vector<std::string> stored_uidls(std::string_view mailbox = "INBOX");
  // The UIDLs of the delivered messages without the given 1-based POP3 message numbers.
  std::vector<std::string> delivered_uidls_without(std::initializer_list<size_t> message_numbers) const;
  // QUIT answers +OK and popgate closes the connection (so UPDATE is over).
  void quit(Pop3Client& client);

  Upstream upstream() const { return GetParam(); }

  std::unique_ptr<MailStore> store_;
  std::unique_ptr<PopgateProcess> popgate_;
  std::vector<CorpusMessage> corpus_;
  std::vector<StoredMessage> delivered_;  // the INBOX right after delivery
};

// For INSTANTIATE_TEST_SUITE_P(Upstreams, Suite, kBothUpstreams, UpstreamParamName()).
inline const auto kBothUpstreams = ::testing::Values(Upstream::Imap, Upstream::Jmap);
struct UpstreamParamName {
  std::string operator()(const ::testing::TestParamInfo<Upstream>& info) const {
    return upstream_name(info.param);
  }
};

}  // namespace popgate::integration
