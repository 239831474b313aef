// Pop3Session's abuse limits against a scripted Mailbox: the login throttle and --update-timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "gateway/limits/auth_throttle.h"
#include "gateway/session/pop3_session.h"
#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using testing::FakeMailboxFactory;
using testing::FakeTransport;
using testing::FakeUpstream;
using testing::read_written_until;
using testing::run_loop_until;

class Pop3SessionLimitsTest : public ::testing::Test {
 protected:
  struct Client {
    std::shared_ptr<FakeTransport::Shared> io = std::make_shared<FakeTransport::Shared>();
    uint64_t id = 0;
    size_t read_pos = 0;
  };

  Pop3SessionLimitsTest() {
    config_->auth_failure_delay_ms = 1;
    config_->auth_failure_delay_max_ms = 4;
    config_->auth_throttle_max_failures = 3;
    config_->auth_throttle_max_failures_per_ip = 100;
    upstream_.messages = {{{"11", 22, "UIDL-A"}, "Subject: a\r\n\r\nbody one\r\n"}};
    context_.on_finished = [this](uint64_t id) { loop_.defer([this, id] { sessions_.erase(id); }); };
  }

  void TearDown() override {
    for (auto& [id, session] : sessions_) session->shut_down();
    ASSERT_TRUE(run_until([&] { return sessions_.empty(); }));
    EXPECT_TRUE(run_until([&] { return upstream_.live_mailboxes == 0; }));
    EXPECT_EQ(locks_.held(), 0u);
  }

  Client connect() {
    Client client;
    client.id = next_id_++;
    auto session =
        std::make_unique<Pop3Session>(context_, client.id, std::make_unique<FakeTransport>(client.io));
    Pop3Session& started = *session;
    sessions_.emplace(client.id, std::move(session));
    started.start();
    read_until(client, "\r\n");  // greeting
    return client;
  }

  bool run_until(const std::function<bool()>& done, int timeout_ms = 3000) {
    return run_loop_until(loop_, done, timeout_ms);
  }

  std::string read_until(Client& client, std::string_view until) {
    return read_written_until(loop_, *client.io, client.read_pos, until);
  }

  std::string command(Client& client, std::string_view line) {
    EXPECT_NE(client.io->handler, nullptr) << "the session no longer reads";
    if (client.io->handler == nullptr) return {};
    client.io->handler->on_data(std::string(line) + "\r\n");
    return read_until(client, "\r\n");
  }

  std::string login(Client& client, std::string_view user, std::string_view password) {
    EXPECT_EQ(command(client, "USER " + std::string(user)), "+OK\r\n");
    return command(client, "PASS " + std::string(password));
  }

  bool finished(const Client& client) const { return sessions_.count(client.id) == 0; }

  Metrics metrics_;  // outlives the loop, whose dropped work may hold gauge tokens
  io::Loop loop_;
  FakeUpstream upstream_;
  FakeMailboxFactory factory_{loop_, upstream_};
  LoginRouterPtr router_ = make_passthrough_router(loop_, factory_);
  MaildropLocks locks_;
  AuthThrottle throttle_;
  NoIdentityGovernor governor_;
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

TEST_F(Pop3SessionLimitsTest, RepeatedFailuresLockTheUserOutWithoutAskingTheUpstream) {
  Client client = connect();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(login(client, "alice", "wrong"), "-ERR [AUTH] Authentication failed.\r\n") << i;
  }
  // The right password now: were the upstream asked, this would log in.
  EXPECT_EQ(login(client, "alice", "secret"), "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n");
  EXPECT_EQ(upstream_.live_mailboxes, 0u);
  // In any case spelling, and from a new connection.
  Client again = connect();
  EXPECT_EQ(login(again, "ALICE", "secret"), "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n");
}

TEST_F(Pop3SessionLimitsTest, AnotherUserLogsInWhileOneIsLockedOut) {
  Client attacker = connect();
  for (int i = 0; i < 4; ++i) login(attacker, "alice", "wrong");
  Client bob = connect();
  EXPECT_EQ(login(bob, "bob", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(bob, "STAT"), "+OK 1 22\r\n");
}

TEST_F(Pop3SessionLimitsTest, AddressLockOutCoversEveryName) {
  config_->auth_throttle_max_failures_per_ip = 2;
  Client client = connect();
  login(client, "user1", "wrong");
  login(client, "user2", "wrong");
  EXPECT_EQ(login(client, "bob", "secret"), "-ERR [LOGIN-DELAY] Too many attempts; try again later.\r\n");
}

TEST_F(Pop3SessionLimitsTest, SuccessResetsTheUsersCount) {
  Client client = connect();
  login(client, "alice", "wrong");
  login(client, "alice", "wrong");
  EXPECT_EQ(login(client, "alice", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_TRUE(run_until([&] { return locks_.held() == 0; }));
  // Two more failures do not reach the threshold of three: the earlier two were forgotten.
  Client next = connect();
  login(next, "alice", "wrong");
  login(next, "alice", "wrong");
  EXPECT_EQ(login(next, "alice", "secret"), "+OK Logged in.\r\n");
}

TEST_F(Pop3SessionLimitsTest, UnknownUserAndWrongPasswordAreAnsweredAlike) {
  // The fake upstream, like popgate, cannot tell the two apart; what matters here is that the
  // session's answer does not depend on the name either.
  Client client = connect();
  const std::string wrong_password = login(client, "alice", "wrong");
  const std::string unknown_user = login(client, "nobody-here", "wrong");
  EXPECT_EQ(wrong_password, unknown_user);
  EXPECT_EQ(wrong_password, "-ERR [AUTH] Authentication failed.\r\n");
}

TEST_F(Pop3SessionLimitsTest, StalledUpdateIsSysTempAndClosesAfterTheUpdateTimeout) {
  config_->update_timeout_ms = 50;
  upstream_.stall_commit = true;
  Client client = connect();
  ASSERT_EQ(login(client, "alice", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(client, "DELE 1"), "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(command(client, "QUIT"), "-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n");
  EXPECT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(client.io->ended);
  EXPECT_TRUE(upstream_.commits.empty());
}

TEST_F(Pop3SessionLimitsTest, QuickUpdateIsNotCutByTheUpdateTimeout) {
  config_->update_timeout_ms = 60'000;
  Client client = connect();
  ASSERT_EQ(login(client, "alice", "secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(client, "DELE 1"), "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_EQ(upstream_.commits.size(), 1u);
  EXPECT_EQ(upstream_.commits[0], std::vector<std::string>{"11"});
}

}  // namespace
}  // namespace popgate
