// The JMAP layer against replies recorded from a real Cyrus 3.6 (tests/unit/adapters/jmap/jmap_replies/).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/jmap/jmap_protocol.h"

namespace popgate::jmap {
namespace {

std::string recorded(const std::string& name) {
  std::ifstream in(std::string(POPGATE_SOURCE_DIR) + "/tests/unit/adapters/jmap/jmap_replies/" + name);
  EXPECT_TRUE(in) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(JmapRecordedReplies, CyrusSessionResource) {
  auto session = parse_session(recorded("reply_session.json"));
  ASSERT_TRUE(session) << session.error().detail;
  EXPECT_EQ(session.value().account_id, "alice");
  EXPECT_EQ(session.value().api_url, "/jmap/");
  EXPECT_EQ(session.value().download_url, "/jmap/download/{accountId}/{blobId}/{name}?accept={type}");
  EXPECT_EQ(session.value().max_objects_in_get, 4096u);
}

TEST(JmapRecordedReplies, CyrusMailboxesHaveAnInbox) {
  auto mailboxes = parse_mailbox_get(recorded("reply_mailbox_get.json"));
  ASSERT_TRUE(mailboxes) << mailboxes.error().detail;
  auto inbox = find_mailbox(mailboxes.value(), "INBOX");
  ASSERT_TRUE(inbox);
  EXPECT_EQ(inbox->name, "Inbox");
}

TEST(JmapRecordedReplies, OurPageRequestHasTheShapeCyrusAnswered) {
  // The recorded request is what popgate sends, modulo ids and the page size.
  auto sent = nlohmann::json::parse(email_page_request("alice", "zr1mfqpu52mujnlartteem15", 0, 50));
  auto recorded_request = nlohmann::json::parse(recorded("request_query_then_get.json"));
  EXPECT_EQ(sent, recorded_request);
  auto page = parse_email_page(recorded("reply_query_then_get.json"));
  ASSERT_TRUE(page) << page.error().detail;
  EXPECT_EQ(page.value().total, page.value().emails.size());
  for (const auto& email : page.value().emails) {
    EXPECT_EQ(uidl_for_email_id(email.id), email.id) << "Cyrus ids fit POP3's UIDL rules as they are";
    EXPECT_GT(email.size, 0u);
    EXPECT_FALSE(email.blob_id.empty());
  }
}

TEST(JmapRecordedReplies, CyrusDestroyConfirmsEachId) {
  auto request = nlohmann::json::parse(recorded("request_email_set_destroy.json"));
  std::vector<std::string> ids = request["methodCalls"][0][1]["destroy"];
  EXPECT_EQ(nlohmann::json::parse(destroy_request("alice", ids)), request);
  auto outcome = parse_set_response(recorded("reply_email_set_destroy.json"), ids);
  ASSERT_TRUE(outcome) << outcome.error().detail;
  EXPECT_EQ(outcome.value().done, ids);
  EXPECT_TRUE(outcome.value().failed.empty());
}

TEST(JmapRecordedReplies, CyrusMethodErrors) {
  for (const char* file : {"reply_unknown_method.json", "reply_invalid_arguments.json"}) {
    auto result = parse_mailbox_get(recorded(file));
    ASSERT_FALSE(result) << file;
    EXPECT_EQ(result.error().kind, ErrorKind::Protocol) << file;
  }
  EXPECT_FALSE(parse_session(recorded("reply_unauthorized.html")));
}

}  // namespace
}  // namespace popgate::jmap
