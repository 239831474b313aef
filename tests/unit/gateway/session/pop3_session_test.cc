// Pop3Session driven end to end against an in-memory client and a scripted Mailbox.
#include "gateway/session/pop3_session.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "gateway/log.h"
#include "tests/unit/gateway/captured_stderr.h"
#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using testing::FakeMailboxFactory;
using testing::FakeTransport;
using testing::FakeUpstream;
using testing::read_written_until;
using testing::run_loop_until;

class Pop3SessionTest : public ::testing::Test {
 protected:
  struct Client {
    std::shared_ptr<FakeTransport::Shared> io = std::make_shared<FakeTransport::Shared>();
    uint64_t id = 0;
    size_t read_pos = 0;
  };

  Pop3SessionTest() {
    config_->listen.push_back({"127.0.0.1", 0});
    config_->auth_failure_delay_ms = 30;
    upstream_.messages = {
        {{"11", 22, "UIDL-A"}, "Subject: a\r\n\r\nbody one\r\n"},
        {{"12", 33, "UIDL-B"}, "Subject: b\r\n\r\n.leading dot\r\n.\r\n"},
        {{"13", 24, "UIDL-C"}, "Subject: c\n\nbare LF\n"},
    };
  }

  void TearDown() override {
    // Every session finished and destroyed; no mailbox, lock or upstream work left behind.
    for (auto& [id, session] : sessions_) session->shut_down();
    ASSERT_TRUE(run_until([&] { return sessions_.empty(); }));
    EXPECT_TRUE(run_until([&] { return upstream_.live_mailboxes == 0; }));
    EXPECT_EQ(locks_.held(), 0u);
  }

  std::shared_ptr<const Config> config() { return config_; }

  Client connect(bool loopback = true) {
    if (!context_) {
      context_ = std::make_unique<SessionContext>(SessionContext{.loop = loop_,
                                                                 .config = config_,
                                                                 .router = *router_,
                                                                 .locks = locks_,
                                                                 .certificates = nullptr,
                                                                 .metrics = metrics_,
                                                                 .auth_throttle = throttle_,
                                                                 .upstream_governor = governor_});
      context_->on_finished = [this](uint64_t id) { loop_.defer([this, id] { sessions_.erase(id); }); };
    }
    Client client;
    client.id = next_id_++;
    auto session = std::make_unique<Pop3Session>(*context_, client.id,
                                                 std::make_unique<FakeTransport>(client.io, loopback));
    Pop3Session& started = *session;
    sessions_.emplace(client.id, std::move(session));
    started.start();
    return client;
  }

  void send(Client& client, std::string_view bytes) {
    ASSERT_NE(client.io->handler, nullptr) << "the session no longer reads";
    client.io->handler->on_data(bytes);
  }

  bool run_until(const std::function<bool()>& done, int timeout_ms = 3000) {
    return run_loop_until(loop_, done, timeout_ms);
  }

  // Everything the client got since the last call, once it contains `until`.
  std::string read_until(Client& client, std::string_view until) {
    return read_written_until(loop_, *client.io, client.read_pos, until);
  }

  std::string command(Client& client, std::string_view line, std::string_view until = "\r\n") {
    send(client, std::string(line) + "\r\n");
    return read_until(client, until);
  }

  void login(Client& client) {
    read_until(client, "\r\n");  // greeting
    EXPECT_EQ(command(client, "USER alice"), "+OK\r\n");
    EXPECT_EQ(command(client, "PASS secret"), "+OK Logged in.\r\n");
  }

  bool finished(const Client& client) const { return sessions_.count(client.id) == 0; }

  Metrics metrics_;  // outlives the loop, whose dropped work may hold gauge tokens
  io::Loop loop_;
  FakeUpstream upstream_;
  FakeMailboxFactory factory_{loop_, upstream_};
  LoginRouterPtr router_ = make_passthrough_router(loop_, factory_);
  MaildropLocks locks_;
  NoLoginThrottle throttle_;
  NoIdentityGovernor governor_;
  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  std::unique_ptr<SessionContext> context_;
  std::map<uint64_t, std::unique_ptr<Pop3Session>> sessions_;
  uint64_t next_id_ = 1;
};

TEST_F(Pop3SessionTest, GreetsListsAndQuitsWithoutDeleting) {
  Client client = connect();
  EXPECT_EQ(read_until(client, "\r\n"), "+OK popgate ready.\r\n");
  EXPECT_EQ(command(client, "USER alice"), "+OK\r\n");
  EXPECT_EQ(command(client, "PASS secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(command(client, "STAT"), "+OK 3 79\r\n");
  EXPECT_EQ(command(client, "LIST", ".\r\n"), "+OK 3 messages:\r\n1 22\r\n2 33\r\n3 24\r\n.\r\n");
  EXPECT_EQ(command(client, "UIDL 2"), "+OK 2 UIDL-B\r\n");
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(client.io->ended);
  // QUIT with nothing marked commits nothing.
  for (const auto& ids : upstream_.commits) EXPECT_TRUE(ids.empty());
}

TEST_F(Pop3SessionTest, RetrStreamsDotStuffedCrlfBodies) {
  Client client = connect();
  login(client);
  EXPECT_EQ(command(client, "RETR 1", "\r\n.\r\n"), "+OK 22 octets\r\nSubject: a\r\n\r\nbody one\r\n.\r\n");
  EXPECT_EQ(command(client, "RETR 2", "\r\n.\r\n"),
            "+OK 33 octets\r\nSubject: b\r\n\r\n..leading dot\r\n..\r\n.\r\n");
  EXPECT_EQ(command(client, "RETR 3", "\r\n.\r\n"), "+OK 24 octets\r\nSubject: c\r\n\r\nbare LF\r\n.\r\n");
}

TEST_F(Pop3SessionTest, TopSendsHeaderAndRequestedLines) {
  upstream_.messages[0].body = "Subject: a\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";
  Client client = connect();
  login(client);
  EXPECT_EQ(command(client, "TOP 1 0", "\r\n.\r\n"), "+OK\r\nSubject: a\r\n\r\n.\r\n");
  EXPECT_EQ(command(client, "TOP 1 2", "\r\n.\r\n"), "+OK\r\nSubject: a\r\n\r\nline 1\r\nline 2\r\n.\r\n");
}

TEST_F(Pop3SessionTest, QuitDeletesExactlyTheMarkedMessagesByUpstreamId) {
  Client client = connect();
  login(client);
  EXPECT_EQ(command(client, "DELE 3"), "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(command(client, "DELE 1"), "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_EQ(upstream_.commits.size(), 1u);
  EXPECT_EQ(upstream_.commits[0], (std::vector<std::string>{"11", "13"}));
}

TEST_F(Pop3SessionTest, DroppedConnectionDeletesNothing) {
  Client client = connect();
  login(client);
  EXPECT_EQ(command(client, "DELE 1"), "+OK Marked to be deleted.\r\n");
  client.io->handler->on_end(io::StreamEnd{false, "connection reset by peer"});
  ASSERT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(upstream_.commits.empty());
}

TEST_F(Pop3SessionTest, RsetThenQuitDeletesNothing) {
  Client client = connect();
  login(client);
  command(client, "DELE 1");
  command(client, "DELE 2");
  command(client, "RSET");
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  for (const auto& ids : upstream_.commits) EXPECT_TRUE(ids.empty());
}

TEST_F(Pop3SessionTest, FailedUpdateAnswersSysTempAndCloses) {
  upstream_.commit_failure = ErrorKind::Temporary;
  Client client = connect();
  login(client);
  command(client, "DELE 2");
  std::string reply = command(client, "QUIT");
  EXPECT_TRUE(reply.starts_with("-ERR [SYS/TEMP]")) << reply;
  ASSERT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(upstream_.commits.empty());
}

TEST_F(Pop3SessionTest, WrongPasswordIsDelayedThenAuthErrorAndRetryWorks) {
  config_->auth_failure_delay_ms = 150;
  Client client = connect();
  read_until(client, "\r\n");
  command(client, "USER alice");
  send(client, "PASS wrong\r\n");
  // Before the delay has passed the client has heard nothing.
  run_until([] { return false; }, 50);
  EXPECT_EQ(client.io->written.substr(client.read_pos), "");
  EXPECT_EQ(read_until(client, "\r\n"), "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_FALSE(finished(client));
  command(client, "USER alice");
  EXPECT_EQ(command(client, "PASS secret"), "+OK Logged in.\r\n");
  EXPECT_EQ(upstream_.live_mailboxes, 1u) << "the failed attempt's mailbox was released";
}

TEST_F(Pop3SessionTest, UpstreamDownIsSysTemp) {
  upstream_.open_failure = ErrorKind::Temporary;
  Client client = connect();
  read_until(client, "\r\n");
  command(client, "USER alice");
  EXPECT_EQ(command(client, "PASS secret"), "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n");
  EXPECT_FALSE(finished(client));
}

TEST_F(Pop3SessionTest, SecondSessionForTheSameMailboxIsInUse) {
  Client first = connect();
  login(first);
  Client second = connect();
  read_until(second, "\r\n");
  command(second, "USER alice");
  EXPECT_EQ(command(second, "PASS secret"), "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n");
  command(first, "QUIT");
  ASSERT_TRUE(run_until([&] { return finished(first); }));
  command(second, "USER alice");
  EXPECT_EQ(command(second, "PASS secret"), "+OK Logged in.\r\n");
}

TEST_F(Pop3SessionTest, LockCanBeTurnedOff) {
  config_->maildrop_lock = false;
  Client first = connect();
  login(first);
  Client second = connect();
  login(second);
  EXPECT_EQ(locks_.held(), 0u);
}

TEST_F(Pop3SessionTest, MessageGoneUpstreamIsErrAndSessionGoesOn) {
  upstream_.messages[1].gone = true;
  Client client = connect();
  login(client);
  EXPECT_EQ(command(client, "RETR 2"), "-ERR Message no longer exists upstream.\r\n");
  EXPECT_EQ(command(client, "NOOP"), "+OK\r\n");
  EXPECT_TRUE(command(client, "RETR 1", "\r\n.\r\n").starts_with("+OK 22 octets\r\n"));
}

TEST_F(Pop3SessionTest, FailureMidStreamDropsTheConnectionWithoutTerminator) {
  upstream_.messages[0].body = std::string(1000, 'x') + "\r\n";
  upstream_.fail_fetch_after_start = ErrorKind::Temporary;
  Client client = connect();
  login(client);
  command(client, "DELE 2");
  send(client, "RETR 1\r\n");
  ASSERT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(client.io->ended);
  EXPECT_FALSE(client.io->written.ends_with("\r\n.\r\n"));
  EXPECT_TRUE(upstream_.commits.empty()) << "a cut stream must not lead to UPDATE";
}

TEST_F(Pop3SessionTest, BackpressurePausesTheUpstreamUntilTheClientDrains) {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += "line " + std::to_string(i) + "\r\n";
  upstream_.messages[0].body = body;
  Client client = connect();
  login(client);
  client.io->auto_take = false;  // the client stops reading
  send(client, "RETR 1\r\n");
  ASSERT_TRUE(run_until([&] { return upstream_.paused; }));
  // Paused just past the high watermark: nowhere near the whole message is queued.
  run_until([] { return false; }, 30);
  size_t queued = client.io->written.size() - client.io->taken;
  EXPECT_LT(queued, client.io->watermarks.high + 2 * upstream_.chunk_size);
  EXPECT_LT(queued, body.size() / 4);
  // The client catches up; the session resumes the upstream each time.
  ASSERT_TRUE(run_until([&] {
    if (upstream_.paused && client.io->handler) {
      client.io->taken = client.io->written.size();
      client.io->handler->on_drained();
    }
    return client.io->written.ends_with("\r\n.\r\n");
  }));
  std::string all = client.io->written.substr(client.read_pos);
  EXPECT_EQ(all, "+OK 22 octets\r\n" + body + ".\r\n");
}

TEST_F(Pop3SessionTest, IdleTimeoutLogsOutWithoutUpdate) {
  config_->idle_timeout_ms = 40;
  Client client = connect();
  login(client);
  command(client, "DELE 1");
  EXPECT_EQ(read_until(client, "\r\n"), "-ERR Disconnected for inactivity.\r\n");
  ASSERT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(upstream_.commits.empty());
}

TEST_F(Pop3SessionTest, PlaintextLoginRefusedFromTheNetworkUnlessAllowed) {
  Client remote = connect(/*loopback=*/false);
  read_until(remote, "\r\n");
  EXPECT_TRUE(command(remote, "USER alice").starts_with("-ERR [AUTH]"));
  config_->allow_plaintext_auth = true;
  Client allowed = connect(/*loopback=*/false);
  login(allowed);
}

TEST_F(Pop3SessionTest, PipelinedCommandsAreAnsweredInOrderAroundARetr) {
  Client client = connect();
  login(client);
  send(client, "STAT\r\nRETR 2\r\nDELE 1\r\nLIST\r\nQUIT\r\n");
  std::string all = read_until(client, "+OK Logging out.\r\n");
  EXPECT_EQ(all,
            "+OK 3 79\r\n"
            "+OK 33 octets\r\nSubject: b\r\n\r\n..leading dot\r\n..\r\n.\r\n"
            "+OK Marked to be deleted.\r\n"
            "+OK 2 messages:\r\n2 33\r\n3 24\r\n.\r\n"
            "+OK Logging out.\r\n");
  ASSERT_EQ(upstream_.commits.size(), 1u);
  EXPECT_EQ(upstream_.commits[0], (std::vector<std::string>{"11"}));
}

TEST_F(Pop3SessionTest, RepliesToPipelinedCommandsGoOutInOneWrite) {
  Client client = connect();
  login(client);
  const size_t writes_before = client.io->writes;
  send(client, "STAT\r\nLIST\r\nUIDL 2\r\nNOOP\r\nDELE 3\r\n");
  EXPECT_EQ(read_until(client, "+OK Marked to be deleted.\r\n"),
            "+OK 3 79\r\n"
            "+OK 3 messages:\r\n1 22\r\n2 33\r\n3 24\r\n.\r\n"
            "+OK 2 UIDL-B\r\n"
            "+OK\r\n"
            "+OK Marked to be deleted.\r\n");
  EXPECT_EQ(client.io->writes - writes_before, 1u);
  // Replies before an upstream action go out before it starts, in order.
  send(client, "NOOP\r\nRETR 1\r\n");
  EXPECT_EQ(read_until(client, "\r\n.\r\n"), "+OK\r\n+OK 22 octets\r\nSubject: a\r\n\r\nbody one\r\n.\r\n");
}

TEST_F(Pop3SessionTest, ShutdownClosesWithoutUpdate) {
  Client client = connect();
  login(client);
  command(client, "DELE 1");
  sessions_.at(client.id)->shut_down();
  EXPECT_EQ(read_until(client, "\r\n"), "-ERR [SYS/TEMP] Server shutting down.\r\n");
  ASSERT_TRUE(run_until([&] { return finished(client); }));
  EXPECT_TRUE(upstream_.commits.empty());
}

}  // namespace
}  // namespace popgate

namespace popgate {
namespace {

// The session's closing log line carries what an operator needs to account for it.
TEST_F(Pop3SessionTest, SessionCloseLogLineAccountsForTheSession) {
  const log::Format previous = log::format();
  log::set_format(log::Format::Json);
  testing::CapturedStderr captured;
  Client client = connect();
  login(client);
  command(client, "RETR 1", "\r\n.\r\n");
  command(client, "DELE 2");
  command(client, "QUIT");
  ASSERT_TRUE(run_until([&] { return finished(client); }));
  log::set_format(previous);
  nlohmann::json close;
  for (const auto& line : captured.lines()) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (!entry.is_discarded() && entry.value("event", "") == "session_close") close = entry;
  }
  ASSERT_TRUE(close.is_object()) << captured.text();
  EXPECT_EQ(close["user"], "alice");
  EXPECT_EQ(close["listener"], "pop3");
  EXPECT_EQ(close["tls"], false);
  EXPECT_EQ(close["outcome"], "quit");
  EXPECT_EQ(close["commands"], 5);  // USER, PASS, RETR, DELE, QUIT
  EXPECT_EQ(close["bytes_in"],
            std::string("USER alice\r\nPASS secret\r\nRETR 1\r\nDELE 2\r\nQUIT\r\n").size());
  EXPECT_EQ(close["bytes_out"], client.io->written.size());
  EXPECT_EQ(close["retrieved"], 1);
  EXPECT_EQ(close["deleted"], 1);
  EXPECT_TRUE(close["duration_s"].is_number());
  for (const auto& line : captured.lines()) EXPECT_EQ(line.find("secret"), std::string::npos) << line;
}

}  // namespace
}  // namespace popgate
