// The common GoogleTest fixture: a private Dovecot with users, a corpus in alice's INBOX, and popgate
// in front of it; on failure the tail of both logs is printed.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/support/corpus.h"
#include "tests/integration/support/dovecot_server.h"
#include "tests/integration/support/imap_client.h"
#include "tests/integration/support/pop3_client.h"
#include "tests/integration/support/popgate_process.h"

namespace popgate::integration {

inline constexpr std::string_view kUser = "alice";
inline constexpr std::string_view kPassword = "s3cret-pw";
inline constexpr std::string_view kOtherUser = "bob";
inline constexpr std::string_view kOtherPassword = "battery staple";

// STAT, LIST and UIDL of one session, as sent (bodies raw).
struct Pop3Listing {
  std::string stat;
  std::string list;
  std::string uidl;
};

class MailTest : public ::testing::Test {
 protected:
  void TearDown() override;

  // Starts Dovecot with alice and bob, creates alice's `mailboxes` (e.g. "Trash") and delivers
  // `corpus` into her INBOX.
  void start_dovecot(std::vector<CorpusMessage> corpus, const std::vector<std::string>& mailboxes = {});
  // Starts popgate in front of Dovecot's IMAP port (or options.upstream); --auth-failure-delay 0
  // unless `args` sets it.
  void start_popgate(std::vector<std::string> args = {}, const PopgateOptions& options = {});

  // A logged-in session (USER/PASS) as alice; throws if the login is refused.
  std::unique_ptr<Pop3Client> popgate_login(std::string_view user = kUser,
                                            std::string_view password = kPassword);
  std::unique_ptr<Pop3Client> oracle_login(std::string_view user = kUser,
                                           std::string_view password = kPassword);
  // An IMAP session as alice with `mailbox` selected.
  std::unique_ptr<ImapClient> imap_select(std::string_view mailbox = "INBOX");

  // The UIDs in alice's INBOX (or `mailbox`) right now, over IMAP.
  std::vector<uint32_t> imap_uids(std::string_view mailbox = "INBOX");

  std::unique_ptr<DovecotServer> dovecot_;
  std::unique_ptr<PopgateProcess> popgate_;
  std::vector<CorpusMessage> corpus_;
};

Pop3Listing read_listing(Pop3Client& client);

// Logs in, sends QUIT and expects +OK. Used to wait until popgate has let go of a user's maildrop:
// retries while the answer is -ERR [IN-USE]. Returns the last PASS reply.
std::string login_when_free(uint16_t port, std::string_view user, std::string_view password,
                            std::chrono::milliseconds timeout);

}  // namespace popgate::integration
