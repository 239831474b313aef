// Pop3Session with the UpstreamGovernor, against a scripted Mailbox: a throttled login backs the
// identity off without a new upstream login, and the per-identity session cap with its release.
#include <gtest/gtest.h>

#include <map>

#include "gateway/limits/upstream_governor.h"
#include "gateway/session/pop3_session.h"
#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using testing::FakeMailboxFactory;
using testing::FakeTransport;
using testing::FakeUpstream;
using testing::read_written_until;
using testing::run_loop_until;

// Counts the upstream logins attempted (one Mailbox each).
class CountingFactory final : public MailboxFactory {
 public:
  explicit CountingFactory(MailboxFactory& inner) : inner_(inner) {}
  MailboxPtr create() override {
    ++created;
    return inner_.create();
  }
  int created = 0;

 private:
  MailboxFactory& inner_;
};

class Pop3SessionGovernorTest : public ::testing::Test {
 protected:
  struct Client {
    std::shared_ptr<FakeTransport::Shared> io = std::make_shared<FakeTransport::Shared>();
    uint64_t id = 0;
    size_t read_pos = 0;
  };

  Pop3SessionGovernorTest() {
    config_->auth_failure_delay_ms = 1;
    config_->maildrop_lock = false;  // several sessions of one mailbox: the cap is what limits them
    config_->max_upstream_sessions_per_identity = 2;
    config_->upstream_backoff_ms = 60'000;  // longer than any test: "within the backoff" is certain
    upstream_.messages = {{{"11", 22, "UIDL-A"}, "Subject: a\r\n\r\nbody one\r\n"}};
    context_.on_finished = [this](uint64_t id) { loop_.defer([this, id] { sessions_.erase(id); }); };
  }

  void TearDown() override {
    for (auto& [id, session] : sessions_) session->shut_down();
    ASSERT_TRUE(run_loop_until(loop_, [&] { return sessions_.empty(); }));
    EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live_mailboxes == 0; }));
    // Every slot came back with its mailbox.
    EXPECT_EQ(governor_.open_sessions(UpstreamGovernor::identity_key("default", "alice", "")), 0u);
  }

  Client connect() {
    Client client;
    client.id = next_id_++;
    auto session =
        std::make_unique<Pop3Session>(context_, client.id, std::make_unique<FakeTransport>(client.io));
    Pop3Session& started = *session;
    sessions_.emplace(client.id, std::move(session));
    started.start();
    read_written_until(loop_, *client.io, client.read_pos, "\r\n");  // greeting
    return client;
  }

  std::string command(Client& client, std::string_view line) {
    EXPECT_NE(client.io->handler, nullptr) << "the session no longer reads";
    if (client.io->handler == nullptr) return {};
    client.io->handler->on_data(std::string(line) + "\r\n");
    return read_written_until(loop_, *client.io, client.read_pos, "\r\n");
  }

  std::string login(Client& client, std::string_view user) {
    EXPECT_EQ(command(client, "USER " + std::string(user)), "+OK\r\n");
    return command(client, "PASS secret");
  }

  double counter(const std::string& line_prefix) {
    const std::string text = metrics_.serialize();
    const size_t at = text.find("\n" + line_prefix + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + line_prefix.size() + 2));
  }

  Metrics metrics_;  // outlives the loop, whose dropped work may hold gauge tokens
  io::Loop loop_;
  FakeUpstream upstream_;
  FakeMailboxFactory fakes_{loop_, upstream_};
  CountingFactory factory_{fakes_};
  LoginRouterPtr router_ = make_passthrough_router(loop_, factory_);
  MaildropLocks locks_;
  NoLoginThrottle throttle_;
  UpstreamGovernor governor_;
  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  SessionContext context_{.loop = loop_,
                          .config = config_,
                          .router = *router_,
                          .locks = locks_,
                          .certificates = nullptr,
                          .metrics = metrics_,
                          .auth_throttle = throttle_,
                          .upstream_governor = governor_};
  std::map<uint64_t, std::unique_ptr<Pop3Session>> sessions_;
  uint64_t next_id_ = 1;
};

TEST_F(Pop3SessionGovernorTest, AThrottledLoginBacksTheIdentityOffWithoutAskingTheUpstreamAgain) {
  upstream_.open_failure = ErrorKind::LoginDelay;  // what the adapters say for a throttling answer
  Client client = connect();
  EXPECT_TRUE(login(client, "alice").starts_with("-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(factory_.created, 1);
  EXPECT_EQ(counter("popgate_upstream_throttled_total{adapter=\"fake\"}"), 1.0);

  upstream_.open_failure.reset();  // the upstream would take it now, but the backoff runs
  Client again = connect();
  EXPECT_TRUE(login(again, "ALICE").starts_with("-ERR [LOGIN-DELAY]"));
  EXPECT_EQ(factory_.created, 1);
  EXPECT_EQ(counter("popgate_upstream_backoff_refusals_total"), 1.0);
  // Another identity goes upstream.
  EXPECT_TRUE(login(again, "bob").starts_with("+OK"));
  EXPECT_EQ(factory_.created, 2);
}

TEST_F(Pop3SessionGovernorTest, TheSessionOverTheCapGetsSysTempUntilOneEnds) {
  Client first = connect();
  Client second = connect();
  Client third = connect();
  EXPECT_TRUE(login(first, "alice").starts_with("+OK"));
  EXPECT_TRUE(login(second, "alice").starts_with("+OK"));
  EXPECT_TRUE(login(third, "alice").starts_with("-ERR [SYS/TEMP]"));
  EXPECT_EQ(factory_.created, 2);
  EXPECT_EQ(counter("popgate_upstream_sessions_capped_total"), 1.0);

  EXPECT_TRUE(command(first, "QUIT").starts_with("+OK"));
  ASSERT_TRUE(run_loop_until(loop_, [&] { return upstream_.live_mailboxes == 1; }));
  EXPECT_TRUE(login(third, "alice").starts_with("+OK"));
  EXPECT_EQ(factory_.created, 3);
}

}  // namespace
}  // namespace popgate
