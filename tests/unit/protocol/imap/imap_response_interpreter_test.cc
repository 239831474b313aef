// What parsed IMAP responses mean: numbers, response codes, announced capabilities and mailbox
// facts, FETCH items and SEARCH results, on responses as real servers send them.
#include "protocol/imap/imap_response_interpreter.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

namespace popgate::imap {
namespace {

using Strings = std::vector<std::string>;

// One complete response line (CRLF included), through the real parser.
Response parse(std::string_view wire) {
  ImapResponseParser parser;
  parser.feed(wire);
  ParseEvent event = parser.next();
  auto* ready = std::get_if<ResponseReady>(&event);
  if (ready == nullptr) {
    ADD_FAILURE() << "not one whole response: " << wire;
    return {};
  }
  return std::move(ready->response);
}

TEST(ImapResponseInterpreter, ParseNumberTakesUnsigned32BitDecimalsOnly) {
  EXPECT_EQ(parse_number("0"), 0u);
  EXPECT_EQ(parse_number("4294967295"), 4294967295u);
  EXPECT_EQ(parse_number("4294967296"), std::nullopt);
  EXPECT_EQ(parse_number(""), std::nullopt);
  EXPECT_EQ(parse_number("12a"), std::nullopt);
  EXPECT_EQ(parse_number("-1"), std::nullopt);
  EXPECT_EQ(parse_number(" 7"), std::nullopt);
}

TEST(ImapResponseInterpreter, CodeNumberReadsTheNumberAfterTheName) {
  EXPECT_EQ(code_number("UIDVALIDITY 3857529045", "UIDVALIDITY"), 3857529045u);
  EXPECT_EQ(code_number("uidvalidity 7 and more", "UIDVALIDITY"), 7u);
  EXPECT_EQ(code_number("UIDVALIDITY", "UIDVALIDITY"), std::nullopt);
  EXPECT_EQ(code_number("UIDVALIDITY ", "UIDVALIDITY"), std::nullopt);
  EXPECT_EQ(code_number("UIDVALIDITYX 5", "UIDVALIDITY"), std::nullopt);
  EXPECT_EQ(code_number("UIDVALIDITY:42", "UIDVALIDITY"), std::nullopt);  // a space ends the name
  EXPECT_EQ(code_number("UIDVALIDITY abc", "UIDVALIDITY"), std::nullopt);
  EXPECT_EQ(code_number("UIDNEXT 4392", "UIDVALIDITY"), std::nullopt);
}

TEST(ImapResponseInterpreter, CapabilitiesComeFromAnUntaggedCapabilityInUpperCase) {
  EXPECT_EQ(announced_capabilities(parse("* CAPABILITY IMAP4rev1 idle AUTH=PLAIN LITERAL+\r\n")),
            (Strings{"IMAP4REV1", "IDLE", "AUTH=PLAIN", "LITERAL+"}));
  EXPECT_EQ(announced_capabilities(parse("* CAPABILITY\r\n")), Strings{});  // announced, if empty
}

TEST(ImapResponseInterpreter, CapabilitiesComeFromAStatusCode) {
  // Dovecot's greeting, and a tagged OK after LOGIN.
  EXPECT_EQ(announced_capabilities(parse("* OK [CAPABILITY IMAP4rev1 SASL-IR  starttls] Dovecot ready.\r\n")),
            (Strings{"IMAP4REV1", "SASL-IR", "STARTTLS"}));
  EXPECT_EQ(announced_capabilities(parse("a1 OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] Logged in\r\n")),
            (Strings{"IMAP4REV1", "UIDPLUS", "MOVE"}));
}

TEST(ImapResponseInterpreter, OtherResponsesAnnounceNoCapabilities) {
  EXPECT_EQ(announced_capabilities(parse("* OK [UIDVALIDITY 3] UIDs valid\r\n")), std::nullopt);
  EXPECT_EQ(announced_capabilities(parse("* OK [CAPABILITYX IMAP4rev1] hi\r\n")), std::nullopt);
  EXPECT_EQ(announced_capabilities(parse("* 3 EXISTS\r\n")), std::nullopt);
  EXPECT_EQ(announced_capabilities(parse("* OK no code\r\n")), std::nullopt);
}

TEST(ImapResponseInterpreter, ExistsAndUidvalidity) {
  EXPECT_EQ(announced_exists(parse("* 172 EXISTS\r\n")), 172u);
  EXPECT_EQ(announced_exists(parse("* 1 RECENT\r\n")), std::nullopt);
  EXPECT_EQ(announced_uidvalidity(parse("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n")), 3857529045u);
  EXPECT_EQ(announced_uidvalidity(parse("a2 OK [UIDVALIDITY 9] done\r\n")), 9u);
  EXPECT_EQ(announced_uidvalidity(parse("* OK [UIDNEXT 4392] Predicted next UID\r\n")), std::nullopt);
  EXPECT_EQ(announced_uidvalidity(parse("* OK [UIDVALIDITY 99999999999] too big\r\n")), std::nullopt);
}

TEST(ImapResponseInterpreter, FetchItemFindsAnItemByNameOrPrefix) {
  Response response = parse("* 12 FETCH (FLAGS (\\Seen) uid 4827 BODY[]<0> \"hello\")\r\n");
  const Value* uid = fetch_item(response, "UID");
  ASSERT_NE(uid, nullptr);
  EXPECT_EQ(uid->number, 4827u);
  const Value* body = fetch_item(response, "BODY[");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->kind, ValueKind::String);
  EXPECT_EQ(body->text, "hello");
  EXPECT_EQ(fetch_item(response, "BODY"), nullptr);  // no prefix match without the '['
  EXPECT_EQ(fetch_item(response, "RFC822.SIZE"), nullptr);
  EXPECT_EQ(fetch_item(parse("* SEARCH 2 3\r\n"), "UID"), nullptr);
}

TEST(ImapResponseInterpreter, FetchUidAndSizeIsAListingEntry) {
  auto entry = fetch_uid_and_size(parse("* 1 FETCH (UID 7 RFC822.SIZE 1234)\r\n"));
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->uid, 7u);
  EXPECT_EQ(entry->size, 1234u);
  // A flag update, a UID that is no uniqueid, one over 32 bits, a quoted UID: not entries.
  EXPECT_FALSE(fetch_uid_and_size(parse("* 1 FETCH (FLAGS (\\Deleted))\r\n")));
  EXPECT_FALSE(fetch_uid_and_size(parse("* 1 FETCH (UID 7)\r\n")));
  EXPECT_FALSE(fetch_uid_and_size(parse("* 1 FETCH (UID 0 RFC822.SIZE 1)\r\n")));
  EXPECT_FALSE(fetch_uid_and_size(parse("* 1 FETCH (UID 4294967296 RFC822.SIZE 1)\r\n")));
  EXPECT_FALSE(fetch_uid_and_size(parse("* 1 FETCH (UID \"7\" RFC822.SIZE 1)\r\n")));
}

TEST(ImapResponseInterpreter, SearchUidsSkipsWhatDoesNotFit32Bits) {
  EXPECT_EQ(search_uids(parse("* SEARCH 2 84 882\r\n")), (std::vector<uint32_t>{2, 84, 882}));
  EXPECT_EQ(search_uids(parse("* SEARCH\r\n")), std::vector<uint32_t>{});
  EXPECT_EQ(search_uids(parse("* SEARCH 5 4294967296 6\r\n")), (std::vector<uint32_t>{5, 6}));
}

TEST(ImapResponseInterpreter, ThrottlingByCodeOrByText) {
  EXPECT_TRUE(is_throttling(parse("a1 NO [UNAVAILABLE] try later\r\n")));
  EXPECT_TRUE(is_throttling(parse("a1 NO [LIMIT] too fast\r\n")));
  EXPECT_TRUE(is_throttling(parse("a1 NO [THROTTLED] slow down\r\n")));
  EXPECT_TRUE(is_throttling(parse("a1 NO Server Unavailable. 15\r\n")));  // Exchange Online
  EXPECT_TRUE(is_throttling(parse("a1 NO Too many simultaneous connections. (Failure)\r\n")));  // Gmail
  EXPECT_FALSE(is_throttling(parse("a1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")));
  EXPECT_FALSE(is_throttling(parse("a1 NO [SERVERBUG] oops\r\n")));
}

TEST(ImapResponseInterpreter, TransientRefusals) {
  for (const char* wire :
       {"a1 NO [SERVERBUG] oops\r\n", "a1 NO [INUSE] locked\r\n", "a1 NO [OVERQUOTA] full\r\n",
        "a1 NO [UNAVAILABLE] later\r\n", "a1 NO [LIMIT] slow\r\n", "a1 NO throttled\r\n"}) {
    EXPECT_TRUE(is_transient(parse(wire))) << wire;
  }
  EXPECT_FALSE(is_transient(parse("a1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")));
  EXPECT_FALSE(is_transient(parse("a1 NO [NONEXISTENT] no such mailbox\r\n")));
  EXPECT_FALSE(is_transient(parse("a1 NO plain refusal\r\n")));
}

TEST(ImapResponseInterpreter, GoneMessagesAndMailboxes) {
  EXPECT_TRUE(is_nonexistent(parse("a1 NO [NONEXISTENT] Unknown Mailbox: Archive\r\n")));
  EXPECT_FALSE(is_nonexistent(parse("a1 NO [EXPUNGEISSUED] gone\r\n")));
  EXPECT_TRUE(is_message_gone(parse("a1 NO [EXPUNGEISSUED] Some messages were expunged\r\n")));
  EXPECT_TRUE(is_message_gone(parse("a1 NO [NONEXISTENT] no such message\r\n")));
  EXPECT_FALSE(is_message_gone(parse("a1 NO [UNAVAILABLE] later\r\n")));
  EXPECT_FALSE(is_message_gone(parse("a1 OK done\r\n")));
}

}  // namespace
}  // namespace popgate::imap
