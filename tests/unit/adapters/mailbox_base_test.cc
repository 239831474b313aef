// MailboxBase: the mailbox key, finish_open's order, later completions that skip a gone
// mailbox, and the one factory.
#include "adapters/mailbox_base.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace popgate {
namespace {

struct Settings {
  std::string name;
};

// The least adapter: it records what the base asks of it and lets the test reach the base.
class TestMailbox final : public MailboxBase {
 public:
  TestMailbox(io::Loop& loop, const Settings& settings) : MailboxBase(loop), settings_(settings) {}
  ~TestMailbox() override { alive_.revoke(); }

  void open(Credentials, OpenDone done) override { open_done_ = std::move(done); }
  void fetch(const MessageInfo&, FetchKind, BodySink&, Done done) override {
    defer_done(std::move(done), make_error(ErrorKind::NotFound, "no messages here"));
  }
  void pause_body() override {}
  void resume_body() override {}
  void commit(std::vector<MessageInfo>, Done done) override { defer_done(std::move(done), Ok{}); }
  std::string_view kind() const override { return "test"; }

  using MailboxBase::finish_open;
  using MailboxBase::mailbox_key;
  const Settings& settings() const { return settings_; }
  std::vector<std::string> events;

 private:
  void forget_login_secrets(bool opened) override {
    events.push_back(opened ? "forget: opened" : "forget: failed");
  }
  Settings settings_;
};

TEST(MailboxBase, MailboxKeyLowersHostAndUserButNotTheMailbox) {
  EXPECT_EQ(TestMailbox::mailbox_key("imap", "IMAP.Example.COM", 993, "Alice@Example.com", "Archive/2024"),
            "imap://imap.example.com:993/alice@example.com/Archive/2024");
  EXPECT_EQ(TestMailbox::mailbox_key("jmap", "127.0.0.1", 8008, "bob", "INBOX"),
            "jmap://127.0.0.1:8008/bob/INBOX");
}

TEST(MailboxBase, FinishOpenForgetsTheSecretsThenAnswersOnce) {
  io::Loop loop;
  TestMailbox mailbox(loop, {});
  mailbox.open({}, [&](Result<Snapshot> result) {
    mailbox.events.push_back(result ? "done: " + result.value().mailbox_key
                                    : "done: " + result.error().detail);
  });
  mailbox.finish_open(Snapshot{"key", {}});
  mailbox.finish_open(make_error(ErrorKind::Temporary, "again"));  // no callback left: only the secrets go
  EXPECT_EQ(mailbox.events, (std::vector<std::string>{"forget: opened", "done: key", "forget: failed"}));
}

TEST(MailboxBase, CompletionsRunLaterAndNotForAGoneMailbox) {
  io::Loop loop;
  std::vector<std::string> done;
  auto kept = std::make_unique<TestMailbox>(loop, Settings{});
  auto gone = std::make_unique<TestMailbox>(loop, Settings{});
  kept->commit({}, [&](Status status) { done.push_back(status ? "kept: ok" : "kept: error"); });
  gone->commit({}, [&](Status) { done.push_back("gone"); });
  gone.reset();
  EXPECT_TRUE(done.empty());  // never inside the call
  loop.run();
  EXPECT_EQ(done, std::vector<std::string>{"kept: ok"});
}

TEST(MailboxBase, TheFactoryMakesEachMailboxFromItsSettings) {
  io::Loop loop;
  AdapterMailboxFactory<TestMailbox, Settings> factory(loop, Settings{"upstream-a"});
  MailboxPtr first = factory.create();
  MailboxPtr second = factory.create();
  ASSERT_NE(first, nullptr);
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(static_cast<TestMailbox&>(*first).settings().name, "upstream-a");
  EXPECT_EQ(first->kind(), "test");
}

}  // namespace
}  // namespace popgate
