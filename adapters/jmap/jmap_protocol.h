// JMAP (RFC 8620 core, RFC 8621 mail) requests and replies as popgate uses them, without I/O.
//
// Builders return request bodies; interpreters turn reply bodies into results with typed
// errors. Everything a JmapMailbox says to the server goes through here, so unit tests can
// check it against recorded Cyrus replies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/common/result.h"

namespace popgate::jmap {

inline constexpr std::string_view kCoreCapability = "urn:ietf:params:jmap:core";
inline constexpr std::string_view kMailCapability = "urn:ietf:params:jmap:mail";

// What popgate needs from the session resource (RFC 8620 §2).
struct Session {
  std::string api_url;       // as sent: may be relative to the session URL
  std::string download_url;  // template with {accountId} {blobId} {type} {name}
  std::string account_id;    // the primary account for mail
  uint64_t max_objects_in_get = 500;
  uint64_t max_objects_in_set = 500;
  uint64_t max_calls_in_request = 16;
};

// Protocol error for JSON that is not a session resource, Permanent when the server has no mail.
Result<Session> parse_session(std::string_view body);

// RFC 8620 §6.2: the template with its variables filled in, each percent-encoded.
std::string expand_download_url(std::string_view url_template, std::string_view account_id,
                                std::string_view blob_id, std::string_view type, std::string_view name);

struct MailboxEntry {
  std::string id;
  std::string name;
  std::string role;  // "" when none
};

std::string mailbox_get_request(std::string_view account_id);
Result<std::vector<MailboxEntry>> parse_mailbox_get(std::string_view body);

// The mailbox a POP3 maildrop maps to: role "inbox" for INBOX (any case), else by name.
std::optional<MailboxEntry> find_mailbox(const std::vector<MailboxEntry>& mailboxes, std::string_view name);

struct EmailEntry {
  std::string id;
  std::string blob_id;
  uint64_t size = 0;
  std::string received_at;  // RFC 3339 UTC; sorts as text
};

// One page of the listing in one round trip: Email/query, then Email/get of "#ids".
std::string email_page_request(std::string_view account_id, std::string_view mailbox_id, uint64_t position,
                               uint64_t limit);
struct EmailPage {
  std::vector<EmailEntry> emails;  // in query order
  uint64_t total = 0;              // the query's total (calculateTotal)
  uint64_t ids_in_page = 0;        // ids the query returned for this page
};
Result<EmailPage> parse_email_page(std::string_view body);

// Whether an Email still exists: servers (Cyrus 3.6) keep serving the blob of a destroyed
// Email, so a download alone cannot tell that another client removed the message.
std::string email_exists_request(std::string_view account_id, std::string_view id);
Result<bool> parse_email_exists(std::string_view body, std::string_view id);

// Orders a listing for POP3 numbering: by receivedAt, then id, so ties are stable.
void sort_for_pop3(std::vector<EmailEntry>& emails);

// RFC 1939 §7 UIDL: 1-70 characters in 0x21..0x7E. A JMAP id (RFC 8620 §1.2: A-Za-z0-9-_,
// 1-255 octets) qualifies unless it is longer than 70; longer ids are mapped to a digest.
std::string uidl_for_email_id(std::string_view id);

// Email/set for UPDATE. Each returns the request body for one batch of ids.
std::string destroy_request(std::string_view account_id, const std::vector<std::string>& ids);
std::string set_seen_request(std::string_view account_id, const std::vector<std::string>& ids);
std::string move_request(std::string_view account_id, const std::vector<std::string>& ids,
                         std::string_view from_mailbox_id, std::string_view to_mailbox_id);

// The outcome of an Email/set: ids the server did not destroy/update, with the reason.
// An id the server reports "notFound" is gone already, which is what the client asked: it
// counts as done, not failed.
struct SetOutcome {
  std::vector<std::string> done;
  std::vector<std::pair<std::string, std::string>> failed;  // id, SetError type
};
Result<SetOutcome> parse_set_response(std::string_view body, const std::vector<std::string>& requested);

}  // namespace popgate::jmap
