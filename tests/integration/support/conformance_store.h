// The mail store behind popgate in the conformance suite: Dovecot (IMAP) or Cyrus (JMAP), with the same
// account, the same corpus and an independent view of the mailbox for checking it afterwards.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/support/corpus.h"
#include "tests/integration/support/imap_client.h"

namespace popgate::integration {

// Which upstream adapter popgate runs: imap:// in front of Dovecot, jmap:// in front of Cyrus.
enum class Upstream { Imap, Jmap };

// "Imap" or "Jmap": the suffix of the parameterised test names.
std::string upstream_name(Upstream upstream);
// For GoogleTest's messages ("GetParam() = Jmap").
void PrintTo(Upstream upstream, std::ostream* out);

// One message as the store's IMAP side sees it.
struct StoredMessage {
  uint32_t uid = 0;
  uint64_t size = 0;      // RFC822.SIZE
  std::string pop3_uidl;  // what popgate's UIDL must say for it: %08x%08x of UID and UIDVALIDITY, or the
                          // JMAP Email id (Cyrus's EMAILID)
};

class MailStore {
 public:
  static std::unique_ptr<MailStore> create(Upstream upstream);
  virtual ~MailStore() = default;

  // Starts the server with the user kUser/kPassword, a "Trash" mailbox (special use \Trash) if asked,
  // and `corpus` in the INBOX, delivered in order so that POP3 message n is corpus[n - 1].
  virtual void start(const std::vector<CorpusMessage>& corpus, bool with_trash) = 0;
  // popgate's --upstream for this store.
  virtual std::string upstream_url() const = 0;
  // Dovecot's own POP3 server on the same Maildir (the oracle), or 0.
  virtual uint16_t oracle_pop3_port() const { return 0; }

  // The messages in `mailbox` right now, in UID order, over IMAP.
  virtual std::vector<StoredMessage> messages(std::string_view mailbox = "INBOX") = 0;
  // The Email ids in `mailbox` over JMAP (Email/query), or nullopt for a store without JMAP.
  virtual std::optional<std::vector<std::string>> jmap_email_ids(std::string_view mailbox) = 0;
  // The bytes of every message in `mailbox`, in UID order, over IMAP (BODY.PEEK[]).
  std::vector<std::string> bodies(std::string_view mailbox = "INBOX");
  // Removes one INBOX message the way another client would: IMAP UID EXPUNGE on Dovecot, JMAP Email/set
  // destroy on Cyrus.
  virtual void remove_as_other_client(const StoredMessage& message) = 0;

  virtual std::string log_text() const = 0;

 protected:
  // An IMAP session as kUser, nothing selected.
  virtual std::unique_ptr<ImapClient> imap_login() = 0;
  // SELECT that checks the EXISTS count against the UIDs the mailbox holds.
  std::unique_ptr<ImapClient> imap_select(std::string_view mailbox);
};

}  // namespace popgate::integration
