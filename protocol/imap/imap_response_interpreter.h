// What parsed IMAP responses mean: response codes (RFC 3501 §7.1, RFC 5530), the capabilities
// and mailbox facts a response announces, FETCH items and SEARCH results. Pure functions over
// an imap::Response; what a meaning implies for a POP3 session is the adapter's to decide.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/imap/imap_response_parser.h"

namespace popgate::imap {

// RFC 3501 §9 number: an unsigned 32-bit decimal, digits only.
std::optional<uint32_t> parse_number(std::string_view text);

// The number after a response code's name: "[UIDVALIDITY 3857529045]" arrives as code
// "UIDVALIDITY 3857529045". Case-insensitive name; anything after the number is ignored.
std::optional<uint32_t> code_number(std::string_view code, std::string_view name);

// The capabilities a response announces, upper case: an untagged CAPABILITY (RFC 3501 §7.2.1)
// or a status's [CAPABILITY ...] code (§7.1). nullopt when it announces none.
std::optional<std::vector<std::string>> announced_capabilities(const Response& response);

// "* 23 EXISTS" (RFC 3501 §7.3.1): the number of messages in the selected mailbox.
std::optional<uint64_t> announced_exists(const Response& response);

// A status's [UIDVALIDITY n] code (RFC 3501 §7.1, §2.3.1.1).
std::optional<uint32_t> announced_uidvalidity(const Response& response);

// The value of FETCH item `name` ("UID", "RFC822.SIZE"; case-insensitive), or of the first item
// whose name starts with `name` when it ends in '[' ("BODY[" finds "BODY[]<0>"). Null if absent.
const Value* fetch_item(const Response& response, std::string_view name);

// One entry of a listing: a FETCH's UID and RFC822.SIZE (RFC 3501 §7.4.2).
struct UidAndSize {
  uint32_t uid = 0;
  uint64_t size = 0;
};
// Both items as numbers, and the UID a valid uniqueid (RFC 3501 §9: nz-number); else nullopt,
// as for a FETCH that only reports changed flags.
std::optional<UidAndSize> fetch_uid_and_size(const Response& response);

// The numbers of an untagged SEARCH (RFC 3501 §7.2.5); any that do not fit 32 bits are skipped.
std::vector<uint32_t> search_uids(const Response& response);

// The upstream sheds load or throttles this user: RFC 5530 [UNAVAILABLE] and [LIMIT], the
// [THROTTLED] some servers send, and the uncoded texts of Exchange Online ("NO Server
// Unavailable. 15") and Gmail ("Too many simultaneous connections").
bool is_throttling(const Response& response);
// Trying again later may succeed: throttling, or RFC 5530 [UNAVAILABLE], [SERVERBUG], [LIMIT],
// [INUSE], [OVERQUOTA].
bool is_transient(const Response& response);
// RFC 5530 [NONEXISTENT]: what the command named (a mailbox, a message) does not exist.
bool is_nonexistent(const Response& response);
// The message asked for is gone: [EXPUNGEISSUED] or [NONEXISTENT] (RFC 5530 §3).
bool is_message_gone(const Response& response);

}  // namespace popgate::imap
