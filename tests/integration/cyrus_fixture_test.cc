// The Cyrus fixture on its own, without popgate: JMAP session discovery, mailboxes, the listing, byte-exact
// blobs and destroy, checked against IMAP; plus the Cyrus behaviours the JMAP adapter has to live with.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/corpus.h"
#include "tests/integration/support/cyrus_server.h"
#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

using nlohmann::json;

constexpr std::string_view kUser = "alice";
constexpr std::string_view kPassword = "s3cret-pw";

// Cyrus refuses bare LF in APPEND; the corpus's LF-only messages go in with CRLF line endings.
std::string with_crlf(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) out += '\r';
    out += bytes[i];
  }
  return out;
}

// "2024-01-01T00:00:05Z" for the n-th delivered message (0-based).
std::string received_at(int n) {
  const int second = 1 + n;
  char buf[32];
  std::snprintf(buf, sizeof buf, "2024-01-01T00:%02d:%02dZ", second / 60, second % 60);
  return buf;
}

json query_and_get(JmapClient& jmap, const std::string& inbox, json query_extra = json::object()) {
  json query = {{"accountId", jmap.account_id()},
                {"filter", {{"inMailbox", inbox}}},
                {"sort", json::array({{{"property", "receivedAt"}, {"isAscending", true}}})},
                {"calculateTotal", true}};
  query.update(query_extra);
  return jmap.call({{"Email/query", query, "q"},
                    {"Email/get",
                     {{"accountId", jmap.account_id()},
                      {"#ids", {{"resultOf", "q"}, {"name", "Email/query"}, {"path", "/ids"}}},
                      {"properties", {"id", "size", "blobId", "receivedAt"}}},
                     "g"}});
}

class CyrusFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.add_user(kUser, kPassword);
    server_.start();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- cyrus master output ----\n" << server_.log_text() << "\n";
  }

  JmapClient jmap() { return server_.jmap(kUser); }

  CyrusServer server_;
};

TEST_F(CyrusFixtureTest, SessionDiscoveryFollowsTheWellKnownRedirect) {
  const std::string port = std::to_string(server_.http_port());
  EXPECT_EQ(server_.jmap_session_url(), "http://127.0.0.1:" + port + "/.well-known/jmap");

  // RFC 8620 §2.2: the well-known URL redirects; Cyrus builds Location from our Host header.
  HttpRequest well_known;
  well_known.target = "/.well-known/jmap";
  well_known.headers = {{"Authorization", basic_authorization(kUser, kPassword)}};
  HttpResponse redirect = http_exchange(server_.http_port(), well_known);
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.header("Location"), "http://127.0.0.1:" + port + "/jmap");

  JmapClient client = jmap();
  const json& session = client.session();
  EXPECT_EQ(client.session_path(), "/jmap");
  EXPECT_EQ(session.at("username"), kUser);
  EXPECT_TRUE(session.at("capabilities").contains("urn:ietf:params:jmap:core"));
  EXPECT_TRUE(session.at("capabilities").contains("urn:ietf:params:jmap:mail"));
  // Relative URLs: resolved against the session URL.
  EXPECT_EQ(session.at("apiUrl"), "/jmap/");
  EXPECT_EQ(session.at("downloadUrl"), "/jmap/download/{accountId}/{blobId}/{name}?accept={type}");
  EXPECT_EQ(client.account_id(), kUser);
  EXPECT_EQ(client.api_path(), "/jmap/");
}

TEST_F(CyrusFixtureTest, WrongPasswordIsHttp401) {
  for (const char* target : {"/jmap/", "/jmap"}) {
    HttpRequest request;
    request.method = target == std::string("/jmap/") ? "POST" : "GET";
    request.target = target;
    request.headers = {{"Authorization", basic_authorization(kUser, "wrong")},
                       {"Content-Type", "application/json"}};
    if (request.method == "POST") request.body = R"({"using":[],"methodCalls":[]})";
    HttpResponse r = http_exchange(server_.http_port(), request);
    EXPECT_EQ(r.status, 401) << target;
    EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"localhost\"") << target;
  }
  JmapClient right = jmap();
  EXPECT_EQ(right.get("/jmap").status, 200);
}

TEST_F(CyrusFixtureTest, MailboxGetFindsInboxAndTrashByRole) {
  server_.create_mailbox(kUser, "Trash", "\\Trash");
  server_.create_mailbox(kUser, "Archive");
  JmapClient client = jmap();
  json reply = client.call_one("Mailbox/get", {{"ids", nullptr}});
  std::map<std::string, std::string> roles;  // role -> name
  for (const auto& m : reply.at("list")) {
    roles[m.at("role").is_null() ? "(none)" : m.at("role").get<std::string>()] = m.at("name");
  }
  EXPECT_EQ(roles["inbox"], "Inbox");  // not "INBOX"
  EXPECT_EQ(roles["trash"], "Trash");
  EXPECT_EQ(roles["(none)"], "Archive");
  EXPECT_EQ(roles.size(), 3u);
  EXPECT_EQ(client.mailbox_id_by_role("inbox"), reply.at("list").at(0).at("id"));
}

TEST_F(CyrusFixtureTest, BlobsAreTheAppendedBytes) {
  std::vector<CorpusMessage> corpus = make_small_corpus(3);
  CorpusOptions options;
  options.large_size = 1024 * 1024;
  options.small_count = 0;
  for (auto& m : make_corpus(options)) {
    // Dots, 8-bit headers and bodies (every byte but CR, LF and NUL), no final newline, headers only, no
    // blank line, a 100 KiB line: all kept as they are. Bare LF is refused, so send those with CRLF.
    m.bytes = with_crlf(m.bytes);
    corpus.push_back(std::move(m));
  }
  server_.deliver_all(kUser, corpus);

  JmapClient client = jmap();
  const std::string inbox = client.mailbox_id_by_role("inbox");
  json r = query_and_get(client, inbox);
  const json& query = r.at("methodResponses").at(0).at(1);
  const json& list = r.at("methodResponses").at(1).at(1).at("list");
  ASSERT_EQ(query.at("total"), corpus.size());
  ASSERT_EQ(list.size(), corpus.size());

  const std::vector<CyrusMessage> imap = server_.messages(kUser);
  ASSERT_EQ(imap.size(), corpus.size());
  for (size_t i = 0; i < corpus.size(); ++i) {
    SCOPED_TRACE(corpus[i].label);
    const json& email = list.at(i);
    // Distinct receivedAt (one second apart) keeps the query in delivery (UID) order.
    EXPECT_EQ(email.at("id"), query.at("ids").at(i));
    EXPECT_EQ(email.at("id"), imap[i].email_id);
    EXPECT_EQ(email.at("blobId"), imap[i].blob_id);
    EXPECT_EQ(email.at("receivedAt"), received_at(static_cast<int>(i)));
    EXPECT_EQ(email.at("size"), corpus[i].bytes.size());
    EXPECT_EQ(imap[i].size, corpus[i].bytes.size());

    HttpResponse blob = client.download(email.at("blobId").get<std::string>());
    ASSERT_EQ(blob.status, 200);
    EXPECT_TRUE(same_bytes(corpus[i].bytes, blob.body));
    EXPECT_EQ(blob.header("Content-Type"), "message/rfc822");
    EXPECT_EQ(blob.header("Content-Length"), std::to_string(corpus[i].bytes.size()));
    EXPECT_FALSE(blob.chunked);
  }
}

TEST_F(CyrusFixtureTest, BareLineFeedsAndNulAreRefused) {
  const std::string bare_lf = "From: a@example.test\nSubject: bare\n\nbody\n";
  ImapResult r = server_.append(kUser, bare_lf);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.tagged.find("bare newlines"), std::string::npos) << r.tagged;
  constexpr char kNul[] = "From: a@example.test\r\n\r\nnul \0 byte\r\n";
  r = server_.append(kUser, std::string(kNul, sizeof kNul - 1));
  EXPECT_NE(r.tagged.find("NUL"), std::string::npos) << r.tagged;
  EXPECT_TRUE(server_.messages(kUser).empty());
  // A bare CR is kept.
  const std::string bare_cr = "From: a@example.test\r\nSubject: cr\r\n\r\nbare\rcr\r\n";
  server_.deliver(kUser, bare_cr);
  JmapClient client = jmap();
  const auto stored = server_.messages(kUser);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_TRUE(same_bytes(bare_cr, client.download(stored[0].blob_id).body));
}

TEST_F(CyrusFixtureTest, IdenticalMessagesAreOneEmail) {
  // The Email id and blobId derive from the message's SHA-1: two IMAP messages with the same bytes are
  // one JMAP Email, listed once, with the earlier receivedAt. A POP3 listing over JMAP has one message
  // fewer than one over IMAP, and DELE of it removes both copies.
  const std::string message = "From: a@example.test\r\nSubject: twice\r\n\r\nsame bytes\r\n";
  server_.deliver(kUser, message);
  server_.deliver(kUser, message);
  server_.deliver(kUser, "From: a@example.test\r\nSubject: other\r\n\r\nother\r\n");
  const auto imap = server_.messages(kUser);
  ASSERT_EQ(imap.size(), 3u);
  EXPECT_EQ(imap[0].email_id, imap[1].email_id);

  JmapClient client = jmap();
  json r = query_and_get(client, client.mailbox_id_by_role("inbox"));
  EXPECT_EQ(r.at("methodResponses").at(0).at(1).at("total"), 2);
  const json& list = r.at("methodResponses").at(1).at(1).at("list");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.at(0).at("id"), imap[0].email_id);
  EXPECT_EQ(list.at(0).at("receivedAt"), received_at(0));
  EXPECT_EQ(list.at(1).at("id"), imap[2].email_id);

  // Destroying that Email expunges both IMAP messages.
  json reply = client.call_one("Email/set", {{"destroy", json::array({imap[0].email_id})}});
  EXPECT_EQ(reply.at("destroyed"), json::array({imap[0].email_id}));
  const auto after = server_.messages(kUser);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].uid, imap[2].uid);
}

TEST_F(CyrusFixtureTest, EmailSetDestroyExpungesAtOnce) {
  server_.deliver_all(kUser, make_small_corpus(3));
  const auto before = server_.messages(kUser);
  ASSERT_EQ(before.size(), 3u);
  const std::string victim = before[1].email_id;

  JmapClient client = jmap();
  json reply = client.call_one("Email/set", {{"destroy", json::array({victim})}});
  EXPECT_EQ(reply.at("destroyed"), json::array({victim}));
  EXPECT_TRUE(reply.at("notDestroyed").is_null());

  const auto after = server_.messages(kUser);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].uid, before[0].uid);
  EXPECT_EQ(after[1].uid, before[2].uid);

  // Email/get is what tells that it is gone: Cyrus 3.6 lists an id that is already gone (or never
  // existed) under "destroyed" again, never under notDestroyed/notFound.
  reply = client.call_one(
      "Email/get", {{"ids", json::array({victim, before[0].email_id})}, {"properties", json::array({"id"})}});
  EXPECT_EQ(reply.at("notFound"), json::array({victim}));
  EXPECT_EQ(reply.at("list").size(), 1u);
  reply = client.call_one("Email/set", {{"destroy", json::array({victim, "Mffffffffffffffffffffffff"})}});
  EXPECT_EQ(reply.at("destroyed"), json::array({victim, "Mffffffffffffffffffffffff"}));
  EXPECT_TRUE(reply.at("notDestroyed").is_null());
  EXPECT_EQ(server_.messages(kUser).size(), 2u);
}

TEST_F(CyrusFixtureTest, QueryPagesByPositionAndLimit) {
  server_.deliver_all(kUser, make_small_corpus(5));
  const auto imap = server_.messages(kUser);
  JmapClient client = jmap();
  const std::string inbox = client.mailbox_id_by_role("inbox");

  json page = query_and_get(client, inbox, {{"position", 1}, {"limit", 2}}).at("methodResponses");
  EXPECT_EQ(page.at(0).at(1).at("position"), 1);
  EXPECT_EQ(page.at(0).at(1).at("total"), 5);
  EXPECT_EQ(page.at(0).at(1).at("ids"), json::array({imap[1].email_id, imap[2].email_id}));
  EXPECT_EQ(page.at(1).at(1).at("list").size(), 2u);

  page = query_and_get(client, inbox, {{"position", 4}, {"limit", 2}}).at("methodResponses");
  EXPECT_EQ(page.at(0).at(1).at("ids"), json::array({imap[4].email_id}));
  page = query_and_get(client, inbox, {{"position", 7}, {"limit", 2}}).at("methodResponses");
  EXPECT_EQ(page.at(0).at(1).at("ids"), json::array());
  EXPECT_EQ(page.at(1).at(1).at("list"), json::array());
}

TEST_F(CyrusFixtureTest, DownloadIgnoresRangeRequests) {
  const std::string message = make_small_corpus(1)[0].bytes;
  server_.deliver(kUser, message);
  JmapClient client = jmap();
  const std::string blob_id = server_.messages(kUser).at(0).blob_id;
  HttpResponse r = client.download(blob_id, "message/rfc822", "message.eml", {{"Range", "bytes=0-9"}});
  EXPECT_EQ(r.status, 200);  // not 206
  EXPECT_EQ(r.header("Accept-Ranges"), "none");
  EXPECT_TRUE(same_bytes(message, r.body));
  // Unknown blobs are 404; without the {name} segment the URL is a 400.
  EXPECT_EQ(client.download("G0123456789abcdef0123456789abcdef01234567").status, 404);
  EXPECT_EQ(client.get("/jmap/download/" + std::string(kUser) + "/" + blob_id).status, 400);
}

TEST(CyrusServerTest, StopEndsEveryProcessAndFreesThePorts) {
  auto server = std::make_unique<CyrusServer>();
  server->add_user(kUser, kPassword);
  server->start();
  // One connection to each service, so master has children to stop.
  auto imap = server->imap_login(kUser);
  EXPECT_EQ(server->jmap(kUser).get("/jmap").status, 200);
  const pid_t master = server->master_pid();
  const std::vector<pid_t> children = child_pids(master);
  EXPECT_FALSE(children.empty());
  const uint16_t imap_port = server->imap_port();
  const uint16_t http_port = server->http_port();
  const std::filesystem::path dir = server->dir();

  server->stop();
  EXPECT_FALSE(server->running());
  EXPECT_TRUE(exited_or_zombie(master));
  for (pid_t child : children) EXPECT_TRUE(exited_or_zombie(child)) << child;
  EXPECT_THROW(connect_loopback(imap_port), std::runtime_error);
  EXPECT_THROW(connect_loopback(http_port), std::runtime_error);
  server.reset();
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace popgate::integration
