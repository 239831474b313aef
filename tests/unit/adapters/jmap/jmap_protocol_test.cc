// JMAP request building and reply interpretation, on RFC 8620/8621-shaped replies.
#include "adapters/jmap/jmap_protocol.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace popgate::jmap {
namespace {

using nlohmann::json;

const char* kSession = R"({
  "capabilities": {
    "urn:ietf:params:jmap:core": {"maxSizeUpload": 50000000, "maxConcurrentUpload": 4, "maxSizeRequest": 10000000,
      "maxConcurrentRequests": 4, "maxCallsInRequest": 16, "maxObjectsInGet": 256, "maxObjectsInSet": 128,
      "collationAlgorithms": []},
    "urn:ietf:params:jmap:mail": {}
  },
  "accounts": {"u1": {"name": "alice", "isPersonal": true, "isReadOnly": false, "accountCapabilities": {}}},
  "primaryAccounts": {"urn:ietf:params:jmap:mail": "u1", "urn:ietf:params:jmap:core": "u1"},
  "username": "alice", "apiUrl": "/jmap/",
  "downloadUrl": "/jmap/download/{accountId}/{blobId}/{name}?accept={type}",
  "uploadUrl": "/jmap/upload/{accountId}/", "eventSourceUrl": "/jmap/eventsource/", "state": "0"
})";

TEST(JmapSession, ParsesWhatPopgateNeeds) {
  auto session = parse_session(kSession);
  ASSERT_TRUE(session) << session.error().detail;
  EXPECT_EQ(session.value().account_id, "u1");
  EXPECT_EQ(session.value().api_url, "/jmap/");
  EXPECT_EQ(session.value().max_objects_in_get, 256u);
  EXPECT_EQ(session.value().max_objects_in_set, 128u);
}

TEST(JmapSession, RejectsServersWithoutMailOrNotJson) {
  json no_mail = json::parse(kSession);
  no_mail["capabilities"].erase("urn:ietf:params:jmap:mail");
  auto refused = parse_session(no_mail.dump());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::Permanent);
  for (const char* bad : {"", "[]", "{", "{\"capabilities\": 7}", "<html>401</html>"}) {
    auto result = parse_session(bad);
    ASSERT_FALSE(result) << bad;
    EXPECT_EQ(result.error().kind, ErrorKind::Protocol) << bad;
  }
  json no_account = json::parse(kSession);
  no_account["primaryAccounts"] = json::object();
  EXPECT_FALSE(parse_session(no_account.dump()));
}

TEST(JmapSession, DownloadUrlVariablesArePercentEncoded) {
  EXPECT_EQ(expand_download_url("/jmap/download/{accountId}/{blobId}/{name}?accept={type}", "u1", "G6ec94+/x",
                                "message/rfc822", "message.eml"),
            "/jmap/download/u1/G6ec94%2B%2Fx/message.eml?accept=message%2Frfc822");
}

TEST(JmapMailboxes, FindsInboxByRoleAndOthersByName) {
  const char* reply =
      R"({"methodResponses": [["Mailbox/get", {"accountId": "u1", "state": "1", "notFound": [],
      "list": [{"id": "m1", "name": "Inbox", "role": "inbox"}, {"id": "m2", "name": "Trash", "role": "trash"},
               {"id": "m3", "name": "Archive", "role": null}]}, "0"]], "sessionState": "0"})";
  auto mailboxes = parse_mailbox_get(reply);
  ASSERT_TRUE(mailboxes);
  ASSERT_EQ(mailboxes.value().size(), 3u);
  EXPECT_EQ(find_mailbox(mailboxes.value(), "INBOX")->id, "m1");
  EXPECT_EQ(find_mailbox(mailboxes.value(), "inbox")->id, "m1");
  EXPECT_EQ(find_mailbox(mailboxes.value(), "Archive")->id, "m3");
  EXPECT_FALSE(find_mailbox(mailboxes.value(), "archive"));
  EXPECT_EQ(json::parse(mailbox_get_request("u1"))["methodCalls"][0][0], "Mailbox/get");
}

TEST(JmapListing, OnePageUsesABackReferenceAndParses) {
  json request = json::parse(email_page_request("u1", "m1", 512, 256));
  const json& calls = request["methodCalls"];
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0][1]["filter"]["inMailbox"], "m1");
  EXPECT_EQ(calls[0][1]["position"], 512);
  EXPECT_EQ(calls[0][1]["limit"], 256);
  EXPECT_EQ(calls[0][1]["sort"][0]["property"], "receivedAt");
  EXPECT_EQ(calls[1][1]["#ids"]["resultOf"], calls[0][2]);
  EXPECT_EQ(calls[1][1]["#ids"]["path"], "/ids");
  EXPECT_FALSE(calls[1][1].contains("ids"));

  const char* reply = R"({"methodResponses": [
      ["Email/query", {"accountId": "u1", "queryState": "5", "canCalculateChanges": false, "position": 0,
                       "total": 3, "ids": ["Mb", "Ma"]}, "q"],
      ["Email/get", {"accountId": "u1", "state": "5", "notFound": [], "list": [
          {"id": "Mb", "blobId": "Gb", "size": 1200, "receivedAt": "2024-01-01T10:00:00Z"},
          {"id": "Ma", "blobId": "Ga", "size": 30, "receivedAt": "2024-01-01T10:00:00Z"}]}, "g"]],
      "sessionState": "0"})";
  auto page = parse_email_page(reply);
  ASSERT_TRUE(page) << page.error().detail;
  EXPECT_EQ(page.value().total, 3u);
  EXPECT_EQ(page.value().ids_in_page, 2u);
  ASSERT_EQ(page.value().emails.size(), 2u);
  EXPECT_EQ(page.value().emails[0].blob_id, "Gb");
  EXPECT_EQ(page.value().emails[0].size, 1200u);

  std::vector<EmailEntry> emails = page.value().emails;
  emails.push_back({"M0", "G0", 5, "2023-12-31T23:59:59Z"});
  sort_for_pop3(emails);
  EXPECT_EQ(emails[0].id, "M0");
  EXPECT_EQ(emails[1].id, "Ma") << "a tie on receivedAt is broken by id";
  EXPECT_EQ(emails[2].id, "Mb");
}

TEST(JmapListing, MethodErrorsAreTyped) {
  auto unknown = parse_email_page(R"({"methodResponses": [["error", {"type": "unknownMethod"}, "q"]]})");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::Protocol);
  EXPECT_NE(unknown.error().detail.find("unknownMethod"), std::string::npos);
  auto busy = parse_email_page(R"({"methodResponses": [["error", {"type": "serverFail"}, "q"]]})");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, ErrorKind::Temporary);
  EXPECT_FALSE(parse_email_page(R"({"methodResponses": []})"));
  EXPECT_FALSE(parse_email_page("not json"));
  EXPECT_FALSE(parse_email_page(R"({"methodResponses": [["Email/query", {"ids": ["a"]}, "q"],
      ["Email/get", {"list": [{"id": "a"}]}, "g"]]})"))
      << "an entry without blobId or size cannot be served";
}

TEST(JmapUidl, IdsThatFitAreUsedAndOthersMapped) {
  EXPECT_EQ(uidl_for_email_id("M6ec94c5bcb3e1a3d3a3b1f8c"), "M6ec94c5bcb3e1a3d3a3b1f8c");
  std::string long_id(71, 'x');
  std::string mapped = uidl_for_email_id(long_id);
  EXPECT_EQ(mapped.size(), 65u);
  EXPECT_EQ(mapped, uidl_for_email_id(long_id)) << "stable";
  EXPECT_NE(mapped, uidl_for_email_id(std::string(72, 'x')));
  EXPECT_NE(uidl_for_email_id("has space"), "has space");
  EXPECT_EQ(uidl_for_email_id(std::string(70, 'y')), std::string(70, 'y'));
}

TEST(JmapSet, RequestsNameExactlyTheIds) {
  json destroy = json::parse(destroy_request("u1", {"Ma", "Mb"}));
  EXPECT_EQ(destroy["methodCalls"][0][1]["destroy"], json({"Ma", "Mb"}));
  json seen = json::parse(set_seen_request("u1", {"Ma"}));
  EXPECT_EQ(seen["methodCalls"][0][1]["update"]["Ma"]["keywords/$seen"], true);
  json move = json::parse(move_request("u1", {"Ma"}, "m1", "m2"));
  EXPECT_TRUE(move["methodCalls"][0][1]["update"]["Ma"]["mailboxIds/m1"].is_null());
  EXPECT_EQ(move["methodCalls"][0][1]["update"]["Ma"]["mailboxIds/m2"], true);
}

TEST(JmapSet, NotDestroyedIsAFailureButNotFoundIsDone) {
  const char* reply =
      R"({"methodResponses": [["Email/set", {"accountId": "u1", "oldState": "5", "newState": "6",
      "destroyed": ["Ma"], "notDestroyed": {"Mb": {"type": "notFound"}, "Mc": {"type": "forbidden"}}}, "0"]]})";
  auto outcome = parse_set_response(reply, {"Ma", "Mb", "Mc", "Md"});
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome.value().done, (std::vector<std::string>{"Ma", "Mb"}));
  ASSERT_EQ(outcome.value().failed.size(), 2u);
  EXPECT_EQ(outcome.value().failed[0], (std::pair<std::string, std::string>{"Mc", "forbidden"}));
  EXPECT_EQ(outcome.value().failed[1].first, "Md") << "an id the server did not mention is not done";
  auto updated = parse_set_response(
      R"({"methodResponses": [["Email/set", {"updated": {"Ma": null}, "notUpdated": {"Mb": {"type": "tooLarge"}}}, "0"]]})",
      {"Ma", "Mb"});
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated.value().done, (std::vector<std::string>{"Ma"}));
  EXPECT_EQ(updated.value().failed.size(), 1u);
  auto failed =
      parse_set_response(R"({"methodResponses": [["error", {"type": "serverFail"}, "0"]]})", {"Ma"});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::Temporary);
}

}  // namespace
}  // namespace popgate::jmap

namespace popgate::jmap {
namespace {

TEST(JmapExists, AskedByIdAndAnsweredFromTheList) {
  json request = json::parse(email_exists_request("u1", "Ma"));
  EXPECT_EQ(request["methodCalls"][0][1]["ids"], json({"Ma"}));
  auto present = parse_email_exists(
      R"({"methodResponses": [["Email/get", {"list": [{"id": "Ma"}], "notFound": []}, "0"]]})", "Ma");
  ASSERT_TRUE(present);
  EXPECT_TRUE(present.value());
  auto gone = parse_email_exists(
      R"({"methodResponses": [["Email/get", {"list": [], "notFound": ["Ma"]}, "0"]]})", "Ma");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone.value());
  EXPECT_FALSE(parse_email_exists(R"({"methodResponses": [["error", {"type": "serverFail"}, "0"]]})", "Ma"));
}

TEST(JmapRecordedReplies, DestroyedEmailIsNotFoundInEmailGet) {
  std::ifstream in(std::string(POPGATE_SOURCE_DIR) +
                   "/tests/unit/adapters/jmap/jmap_replies/reply_email_get_destroyed.json");
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto reply = json::parse(body);
  std::string id = reply["methodResponses"][0][1]["notFound"][0];
  auto exists = parse_email_exists(body, id);
  ASSERT_TRUE(exists) << exists.error().detail;
  EXPECT_FALSE(exists.value());
}

}  // namespace
}  // namespace popgate::jmap
