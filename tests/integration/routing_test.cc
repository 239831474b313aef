// Routing rules end to end: two real Dovecots, logins routed by domain; each upstream sees only
// its own users, even where the other has a user of the same name.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/integration/support/corpus.h"
#include "tests/integration/support/dovecot_server.h"
#include "tests/integration/support/pop3_client.h"
#include "tests/integration/support/popgate_process.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {
namespace {

std::string stat_of(uint16_t port, const std::string& user, const std::string& password) {
  Pop3Client client(port);
  const std::string reply = client.login(user, password);
  if (reply.rfind("+OK", 0) != 0) return reply;
  std::string stat = client.command("STAT");
  client.command("QUIT");
  client.wait_for_close(std::chrono::seconds(5));
  return stat;
}

std::string stat_line(const std::vector<CorpusMessage>& corpus) {
  size_t bytes = 0;
  for (const auto& message : corpus) bytes += message.bytes.size();
  return "+OK " + std::to_string(corpus.size()) + " " + std::to_string(bytes);
}

TEST(Routing, LoginsGoToTheUpstreamOfTheirDomain) {
  // Each Dovecot also holds a decoy of the other's user, with a different number of messages.
  DovecotServer a, b;
  for (DovecotServer* server : {&a, &b}) {
    server->add_user("joe@a.example", "a-pass");
    server->add_user("joe@b.example", "b-pass");
    server->add_user("max@c.example", "c-pass");
  }
  a.start();
  b.start();
  const auto a_mail = make_small_corpus(2), b_mail = make_small_corpus(3);
  a.deliver_all("joe@a.example", a_mail);
  b.deliver_all("joe@b.example", b_mail);
  b.deliver_all("joe@a.example", make_small_corpus(5));
  a.deliver_all("joe@b.example", make_small_corpus(4));
  b.deliver_all("max@c.example", make_small_corpus(6));
  a.deliver_all("max@c.example", make_small_corpus(1));

  TempDir dir("popgate-routing");
  write_file(dir / "popgate.json", R"({"routes": [
    {"match": "*@a.example", "upstream": "imap://127.0.0.1:)" +
                                       std::to_string(a.imap_port()) + R"("},
    {"match": "*@B.example", "upstream": "imap://127.0.0.1:)" +
                                       std::to_string(b.imap_port()) + R"(",
     "delete_mode": "keep"}]})");
  // The top-level --upstream (b) is the default route, for c.example.
  PopgateProcess popgate(b.imap_port(),
                         {"--config", (dir / "popgate.json").string(), "--auth-failure-delay", "0"});

  EXPECT_EQ(stat_of(popgate.port(), "joe@a.example", "a-pass"), stat_line(a_mail)) << popgate.log_text();
  EXPECT_EQ(stat_of(popgate.port(), "joe@b.example", "b-pass"), stat_line(b_mail)) << popgate.log_text();
  EXPECT_EQ(stat_of(popgate.port(), "max@c.example", "c-pass"), stat_line(make_small_corpus(6)));

  // b's route keeps deleted messages: a DELE + QUIT there removes nothing; a's route expunges.
  {
    Pop3Client client(popgate.port());
    ASSERT_EQ(client.login("joe@b.example", "b-pass"), "+OK Logged in.");
    EXPECT_EQ(client.command("DELE 1").rfind("+OK", 0), 0u);
    EXPECT_EQ(client.command("QUIT").rfind("+OK", 0), 0u);
    client.wait_for_close(std::chrono::seconds(5));
  }
  EXPECT_EQ(stat_of(popgate.port(), "joe@b.example", "b-pass"), stat_line(b_mail));
  {
    Pop3Client client(popgate.port());
    ASSERT_EQ(client.login("joe@a.example", "a-pass"), "+OK Logged in.");
    EXPECT_EQ(client.command("DELE 1").rfind("+OK", 0), 0u);
    EXPECT_EQ(client.command("QUIT").rfind("+OK", 0), 0u);
    client.wait_for_close(std::chrono::seconds(5));
  }
  EXPECT_EQ(stat_of(popgate.port(), "joe@a.example", "a-pass"), stat_line({a_mail[1]}));
  // A password that is right on the other upstream only is wrong here.
  EXPECT_EQ(stat_of(popgate.port(), "joe@a.example", "b-pass").rfind("-ERR [AUTH]", 0), 0u);
}

}  // namespace
}  // namespace popgate::integration
