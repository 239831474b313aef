// The fixture of the fault and abuse tests: a real Dovecot, a FaultRelay in front of it, popgate
// (with its admin endpoint) in front of the relay, and checks that popgate's sessions, upstream
// connections and descriptors come back to where they were.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/integration/support/fault_relay.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {

// A message of about `size` octets whose Subject is `label`, CRLF line ends, 76-octet lines.
CorpusMessage make_big_message(std::string label, size_t size);

class RelayedMailTest : public MailTest {
 protected:
  void TearDown() override;

  // Dovecot with `corpus` in alice's INBOX, the relay, popgate through it with `args` (plus
  // --upstream-timeout 2 unless `args` sets it); then records the baseline.
  void start_relayed(std::vector<CorpusMessage> corpus, std::vector<std::string> args = {});

  // Polls (up to 30 s) until popgate has no session and no upstream connection and holds as many
  // descriptors as at the start; EXPECTs each.
  void expect_back_to_baseline();
  // The UIDs of alice's INBOX, asked from Dovecot directly.
  std::vector<uint32_t> uids_now() { return imap_uids(); }
  // `uids` without the ones of these POP3 message numbers (1-based, in the first listing).
  std::vector<uint32_t> without(std::vector<uint32_t> uids, const std::vector<size_t>& numbers) const;
  bool log_has(std::string_view text) const { return popgate_->log_text().find(text) != std::string::npos; }

  std::unique_ptr<FaultRelay> relay_;
  std::vector<uint32_t> initial_uids_;
  int baseline_fds_ = -1;
};

}  // namespace popgate::integration
