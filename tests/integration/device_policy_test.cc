// Device policies against the real Dovecot: the snapshot filters (only_unseen, max_age_days,
// max_messages, max_message_size) alone and combined, with exact listings whose sizes and UIDLs
// are those of the unfiltered session; a route's policy over the top level's; and delete_mode
// seen with only_unseen: each message once, the mailbox untouched.
#include <gtest/gtest.h>

#include <ctime>
#include <sstream>

#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

// "n size" and "n uidl" lines of a LIST or UIDL body, without the numbers.
std::vector<std::string> columns(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t space = line.find(' ');
    if (space != std::string::npos) out.push_back(line.substr(space + 1));
  }
  return out;
}

class DevicePolicy : public MailTest {
 protected:
  // Six messages: index, age in days, seen, size class.
  void SetUp() override {
    dovecot_ = std::make_unique<DovecotServer>();
    dovecot_->add_user(kUser, kPassword);
    dovecot_->add_user(kOtherUser, kOtherPassword);
    const std::time_t now = std::time(nullptr);
    struct Message {
      int age_days;
      const char* flags;
      size_t padding;
    };
    const Message messages[] = {{100, "S", 0},   {100, "", 0}, {2, "S", 0},
                                {2, "", 20'000}, {0, "", 0},   {0, "", 0}};
    for (size_t i = 0; i < std::size(messages); ++i) {
      const std::string text = "Subject: message " + std::to_string(i) + "\r\n\r\n" +
                               std::string(messages[i].padding, 'x') + "body " + std::to_string(i) + "\r\n";
      dovecot_->deliver_dated(kUser, text, messages[i].flags, now - messages[i].age_days * 86'400 - 60);
    }
    dovecot_->start();
    // What an unfiltered session lists: the reference every filtered listing is a part of.
    start_popgate();
    auto client = popgate_login();
    all_ = read_listing(*client);
    client->command("QUIT");
    ASSERT_EQ(columns(all_.uidl).size(), 6u) << all_.uidl;
  }

  // LIST and UIDL of a session under `args`, as indexes into the unfiltered listing.
  std::vector<size_t> listed(std::vector<std::string> args) {
    start_popgate(std::move(args));
    auto client = popgate_login();
    Pop3Listing listing = read_listing(*client);
    client->command("QUIT");
    const std::vector<std::string> sizes = columns(listing.list), uidls = columns(listing.uidl);
    const std::vector<std::string> all_sizes = columns(all_.list), all_uidls = columns(all_.uidl);
    std::vector<size_t> indexes;
    for (size_t i = 0; i < uidls.size(); ++i) {
      const size_t at = std::find(all_uidls.begin(), all_uidls.end(), uidls[i]) - all_uidls.begin();
      EXPECT_LT(at, all_uidls.size()) << uidls[i];
      if (at < all_sizes.size()) {
        EXPECT_EQ(sizes.at(i), all_sizes[at]) << "the size of message " << at;
      }
      indexes.push_back(at);
    }
    EXPECT_EQ(listing.stat.substr(0, 5), "+OK " + std::to_string(indexes.size())) << listing.stat;
    return indexes;
  }

  Pop3Listing all_;
};

using Indexes = std::vector<size_t>;

TEST_F(DevicePolicy, EachFilterAlone) {
  EXPECT_EQ(listed({"--only-unseen"}), (Indexes{1, 3, 4, 5}));
  EXPECT_EQ(listed({"--max-age-days", "30"}), (Indexes{2, 3, 4, 5}));
  EXPECT_EQ(listed({"--max-messages", "2"}), (Indexes{4, 5})) << "the newest two";
  EXPECT_EQ(listed({"--max-message-size", "10000"}), (Indexes{0, 1, 2, 4, 5}));
  const auto too_large = popgate_events(popgate_->log_text(), "messages_too_large");
  ASSERT_EQ(too_large.size(), 1u) << "once per session";
  EXPECT_NE(too_large[0].find("hidden=1"), std::string::npos) << too_large[0];
}

TEST_F(DevicePolicy, FiltersCombined) {
  EXPECT_EQ(listed({"--only-unseen", "--max-age-days", "30"}), (Indexes{3, 4, 5}));
  EXPECT_EQ(listed({"--only-unseen", "--max-age-days", "30", "--max-message-size", "10000"}),
            (Indexes{4, 5}));
  EXPECT_EQ(
      listed({"--only-unseen", "--max-age-days", "30", "--max-message-size", "10000", "--max-messages", "1"}),
      (Indexes{5}));
  EXPECT_EQ(listed({"--max-age-days", "1", "--only-unseen"}), (Indexes{4, 5})) << "today only";
}

TEST_F(DevicePolicy, ARoutesPolicyOverridesTheTopLevels) {
  TempDir dir("device-policy");
  write_file(dir / "config.json",
             R"({"max_age_days": 30, "routes": [{"match": "alice", "only_unseen": true}]})");
  EXPECT_EQ(listed({"--config", (dir / "config.json").string()}), (Indexes{3, 4, 5}))
      << "the route's only_unseen on top of the top level's max_age_days";
  write_file(dir / "bad.json", R"({"routes": [{"match": "alice", "max_messages": "many"}]})");
  SpawnOptions check;
  check.argv = {POPGATE_BINARY,       "--check-config", "--upstream",
                "imap://127.0.0.1:1", "--config",       (dir / "bad.json").string()};
  RunResult result = run_program(check, std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("routes[0]: field 'max_messages'"), std::string::npos) << result.err;
}

TEST_F(DevicePolicy, DeleteModeSeenWithOnlyUnseenServesEachMessageOnceAndDeletesNothing) {
  const std::vector<std::string> args = {"--only-unseen", "--delete-mode", "seen", "--upstream-reuse-time",
                                         "0"};
  start_popgate(args);
  {
    auto client = popgate_login();
    EXPECT_EQ(client->command("STAT").substr(0, 5), "+OK 4");
    EXPECT_EQ(client->command("DELE 1").substr(0, 3), "+OK");
    EXPECT_EQ(client->command("DELE 2").substr(0, 3), "+OK");
    EXPECT_EQ(client->command("QUIT").substr(0, 3), "+OK");
  }
  EXPECT_EQ(listed(args), (Indexes{4, 5})) << "the two retrieved are not offered again";
  {
    auto client = popgate_login();
    EXPECT_EQ(client->command("DELE 1").substr(0, 3), "+OK");
    EXPECT_EQ(client->command("DELE 2").substr(0, 3), "+OK");
    // A dropped connection marks nothing: only QUIT does.
  }
  EXPECT_EQ(listed(args), (Indexes{4, 5}));
  {
    auto client = popgate_login();
    EXPECT_EQ(client->command("DELE 1").substr(0, 3), "+OK");
    EXPECT_EQ(client->command("DELE 2").substr(0, 3), "+OK");
    EXPECT_EQ(client->command("QUIT").substr(0, 3), "+OK");
  }
  EXPECT_EQ(listed(args), Indexes{});
  EXPECT_EQ(imap_uids().size(), 6u) << "nothing deleted upstream";
  EXPECT_EQ(listed({}), (Indexes{0, 1, 2, 3, 4, 5})) << "a device without the filter still sees them all";
}

}  // namespace
}  // namespace popgate::integration
