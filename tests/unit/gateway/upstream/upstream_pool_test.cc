// UpstreamPool (keying, expiry, bound, a parked session the upstream closes) and Pop3Session
// parking its mailbox after a clean QUIT, against a scripted upstream that can keep a login.
#include "gateway/upstream/upstream_pool.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>

#include "gateway/session/pop3_session.h"
#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using testing::FakeTransport;
using testing::read_written_until;
using testing::run_loop_until;

// The upstream's side: its messages, and what it was asked to do.
struct ScriptedUpstream {
  std::map<std::string, uint64_t> messages;  // upstream id -> size
  std::string password = "secret";
  size_t logins = 0;   // open() calls that reached the "server"
  size_t reopens = 0;  // reopen() calls
  size_t live = 0;     // mailboxes alive now
  bool fail_commit = false;
  std::optional<ErrorKind> reopen_failure;
};

// A Mailbox that stays logged in after a session, as ImapMailbox does: parkable while nothing
// is in flight. A fake because the pool's rules (expiry, bound, a lost connection) are what is
// tested here; the real adapters are exercised against Dovecot in tests/integration.
class ParkableMailbox final : public Mailbox {
 public:
  ParkableMailbox(io::Loop& loop, ScriptedUpstream& upstream) : loop_(loop), upstream_(upstream) {
    ++upstream_.live;
  }
  ~ParkableMailbox() override {
    *alive_ = false;
    --upstream_.live;
  }

  void open(Credentials credentials, OpenDone done) override {
    busy_ = true;
    later([this, ok = credentials.password.reveal() == upstream_.password, done = std::move(done)] {
      busy_ = false;
      ++upstream_.logins;
      if (!ok) return done(make_error(ErrorKind::Auth, "bad password"));
      opened_ = true;
      done(snapshot());
    });
  }
  void reopen(OpenDone done) override {
    busy_ = true;
    later([this, done = std::move(done)] {
      busy_ = false;
      ++upstream_.reopens;
      if (lost_connection_) return done(make_error(ErrorKind::Temporary, "gone"));
      if (upstream_.reopen_failure) return done(make_error(*upstream_.reopen_failure, "scripted"));
      done(snapshot());
    });
  }
  void fetch(const MessageInfo&, FetchKind, BodySink&, Done done) override {
    later([done = std::move(done)] { done(make_error(ErrorKind::NotFound, "not scripted")); });
  }
  void pause_body() override {}
  void resume_body() override {}
  void commit(std::vector<MessageInfo> deleted, Done done) override {
    busy_ = true;
    later([this, deleted = std::move(deleted), done = std::move(done)] {
      busy_ = false;
      if (upstream_.fail_commit) return done(make_error(ErrorKind::Temporary, "scripted"));
      for (const auto& message : deleted) upstream_.messages.erase(message.upstream_id);
      done(Ok{});
    });
  }
  std::string_view kind() const override { return "imap"; }
  bool can_park() const override { return opened_ && !busy_ && !lost_connection_; }
  void set_lost_handler(std::function<void()> lost) override { lost_ = std::move(lost); }

  // The upstream ends the connection (BYE, EOF) while the mailbox is idle.
  void lose_connection() {
    lost_connection_ = true;
    if (lost_) std::exchange(lost_, nullptr)();
  }
  bool watched() const { return lost_ != nullptr; }

 private:
  Snapshot snapshot() const {
    Snapshot snapshot;
    snapshot.mailbox_key = "scripted/alice";
    for (const auto& [id, size] : upstream_.messages) snapshot.messages.push_back({id, size, "U" + id});
    return snapshot;
  }
  void later(std::function<void()> fn) {
    std::weak_ptr<bool> alive = alive_;
    loop_.defer([alive, fn = std::move(fn)] {
      if (!alive.expired()) fn();
    });
  }

  io::Loop& loop_;
  ScriptedUpstream& upstream_;
  bool opened_ = false;
  bool busy_ = false;
  bool lost_connection_ = false;
  std::function<void()> lost_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

Credentials credentials(std::string user, std::string password,
                        CredentialKind kind = CredentialKind::Password) {
  return Credentials{"USER", std::move(user), SecretString(std::move(password)), kind};
}

class UpstreamPoolTest : public ::testing::Test {
 protected:
  // A parked-ready mailbox: opened with the right password.
  std::unique_ptr<ParkableMailbox> opened_mailbox() {
    auto mailbox = std::make_unique<ParkableMailbox>(loop_, upstream_);
    bool done = false;
    mailbox->open(credentials("alice", "secret"), [&](Result<Snapshot> result) {
      EXPECT_TRUE(result);
      done = true;
    });
    EXPECT_TRUE(run_loop_until(loop_, [&] { return done; }));
    return mailbox;
  }

  io::Loop loop_;
  ScriptedUpstream upstream_;
};

TEST(UpstreamPoolKeyTest, TheKeyIsTheUserAndAnHmacThatDiffersPerCredential) {
  const std::string key = UpstreamPool::park_key(credentials("alice", "secret"));
  EXPECT_EQ(key, UpstreamPool::park_key(credentials("alice", "secret")));
  EXPECT_NE(key, UpstreamPool::park_key(credentials("alice", "secret2")));
  EXPECT_NE(key, UpstreamPool::park_key(credentials("bob", "secret")));
  EXPECT_NE(key, UpstreamPool::park_key(credentials("alice", "secret", CredentialKind::BearerToken)));
  // User, NUL, 64 hex digits of HMAC-SHA256; never the password itself.
  EXPECT_EQ(key.size(), 5u + 1 + 64);
  EXPECT_EQ(key.find("secret"), std::string::npos);
  EXPECT_TRUE(key.starts_with(std::string("alice", 5) + '\0'));
}

TEST_F(UpstreamPoolTest, TakesOnlyWhatWasParkedUnderTheSameKey) {
  UpstreamReuseCounters& counters = upstream_reuse_counters("imap");
  const uint64_t hits = counters.hit, misses = counters.miss;
  UpstreamPool pool(loop_, "imap", {60'000, 10});
  const std::string alice = UpstreamPool::park_key(credentials("alice", "secret"));
  const std::string wrong = UpstreamPool::park_key(credentials("alice", "guess"));
  EXPECT_EQ(pool.take(alice), nullptr);
  pool.park(alice, opened_mailbox());
  EXPECT_EQ(pool.parked(), 1u);
  EXPECT_EQ(pool.take(wrong), nullptr) << "another password must not get alice's session";
  MailboxPtr taken = pool.take(alice);
  ASSERT_NE(taken, nullptr);
  EXPECT_FALSE(static_cast<ParkableMailbox&>(*taken).watched()) << "taken: no longer the pool's to drop";
  EXPECT_EQ(pool.parked(), 0u);
  EXPECT_EQ(pool.take(alice), nullptr) << "a parked session is handed out once";
  EXPECT_EQ(counters.hit - hits, 1u);
  EXPECT_EQ(counters.miss - misses, 3u);
}

TEST_F(UpstreamPoolTest, AMailboxThatCannotBeParkedIsDroppedOnTheNextTick) {
  UpstreamPool pool(loop_, "imap", {60'000, 10});
  pool.park("k", std::make_unique<ParkableMailbox>(loop_, upstream_));  // never opened
  EXPECT_EQ(pool.parked(), 0u);
  EXPECT_EQ(upstream_.live, 1u) << "not destroyed inside park()";
  EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live == 0; }));
}

TEST_F(UpstreamPoolTest, ParkedSessionsExpire) {
  UpstreamReuseCounters& counters = upstream_reuse_counters("imap");
  const uint64_t expired = counters.expired;
  const int64_t parked_before = counters.parked;
  UpstreamPool pool(loop_, "imap", {30, 10});
  pool.park("k", opened_mailbox());
  EXPECT_EQ(counters.parked - parked_before, 1);
  ASSERT_TRUE(run_loop_until(loop_, [&] { return pool.parked() == 0; }));
  EXPECT_EQ(counters.expired - expired, 1u);
  EXPECT_EQ(counters.parked, parked_before);
  EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live == 0; })) << "expired: logged out";
  EXPECT_EQ(pool.take("k"), nullptr);
}

TEST_F(UpstreamPoolTest, TheBoundEvictsTheOldest) {
  UpstreamReuseCounters& counters = upstream_reuse_counters("imap");
  const uint64_t evicted = counters.evicted;
  UpstreamPool pool(loop_, "imap", {60'000, 2});
  pool.park("first", opened_mailbox());
  pool.park("second", opened_mailbox());
  pool.park("third", opened_mailbox());
  EXPECT_EQ(pool.parked(), 2u);
  EXPECT_EQ(counters.evicted - evicted, 1u);
  EXPECT_EQ(pool.take("first"), nullptr);
  EXPECT_NE(pool.take("second"), nullptr);
  EXPECT_NE(pool.take("third"), nullptr);
}

TEST_F(UpstreamPoolTest, TheNewestOfOneKeyIsTakenFirst) {
  UpstreamPool pool(loop_, "imap", {60'000, 10});
  auto older = opened_mailbox();
  auto newer = opened_mailbox();
  Mailbox* newer_address = newer.get();
  pool.park("k", std::move(older));
  pool.park("k", std::move(newer));
  EXPECT_EQ(pool.take("k").get(), newer_address);
  EXPECT_EQ(pool.parked(), 1u);
}

TEST_F(UpstreamPoolTest, ASessionTheUpstreamClosesLeavesThePoolAtOnce) {
  UpstreamReuseCounters& counters = upstream_reuse_counters("imap");
  const uint64_t closed = counters.closed;
  UpstreamPool pool(loop_, "imap", {60'000, 10});
  auto mailbox = opened_mailbox();
  ParkableMailbox& parked = *mailbox;
  pool.park("k", std::move(mailbox));
  pool.park("other", opened_mailbox());
  parked.lose_connection();
  EXPECT_EQ(pool.parked(), 1u);
  EXPECT_EQ(counters.closed - closed, 1u);
  EXPECT_EQ(pool.take("k"), nullptr);
  EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live == 1; }));
}

TEST_F(UpstreamPoolTest, AParkedSessionNoLongerHealthyIsNotHandedOut) {
  UpstreamPool pool(loop_, "imap", {60'000, 10});
  auto mailbox = opened_mailbox();
  ParkableMailbox& parked = *mailbox;
  pool.park("k", std::move(mailbox));
  parked.set_lost_handler(nullptr);  // the pool did not hear of it
  parked.lose_connection();
  EXPECT_EQ(pool.take("k"), nullptr);
  EXPECT_EQ(pool.parked(), 0u);
}

TEST_F(UpstreamPoolTest, DestroyingThePoolLogsOutWhatIsParked) {
  const int64_t parked_before = upstream_reuse_counters("imap").parked;
  {
    UpstreamPool pool(loop_, "imap", {60'000, 10});
    pool.park("k", opened_mailbox());
    EXPECT_EQ(upstream_.live, 1u);
  }
  EXPECT_EQ(upstream_.live, 0u);
  EXPECT_EQ(upstream_reuse_counters("imap").parked, parked_before);
}

// ---------------------------------------------------------------- sessions

// The factory make_mailbox_factory builds with reuse on, over the scripted upstream.
class PoolingFactory final : public MailboxFactory {
 public:
  PoolingFactory(io::Loop& loop, ScriptedUpstream& upstream, UpstreamPoolSettings settings)
      : loop_(loop), upstream_(upstream), pool_(loop, "imap", settings) {}
  MailboxPtr create() override { return std::make_unique<ParkableMailbox>(loop_, upstream_); }
  MailboxPtr take_parked(const Credentials& credentials, std::string& park_key) override {
    park_key = UpstreamPool::park_key(credentials);
    return pool_.take(park_key);
  }
  void park(const std::string& park_key, MailboxPtr&& mailbox) override {
    pool_.park(park_key, std::move(mailbox));
  }
  UpstreamPool& pool() { return pool_; }

 private:
  io::Loop& loop_;
  ScriptedUpstream& upstream_;
  UpstreamPool pool_;
};

class SessionReuseTest : public ::testing::Test {
 protected:
  struct Client {
    std::shared_ptr<FakeTransport::Shared> io = std::make_shared<FakeTransport::Shared>();
    uint64_t id = 0;
    size_t read_pos = 0;
  };

  SessionReuseTest() {
    config_->auth_failure_delay_ms = 10;
    upstream_.messages = {{"11", 100}, {"12", 200}};
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

  void TearDown() override {
    for (auto& [id, session] : sessions_) session->shut_down();
    ASSERT_TRUE(run_loop_until(loop_, [&] { return sessions_.empty(); }));
    EXPECT_EQ(locks_.held(), 0u);
  }

  Client connect() {
    Client client;
    client.id = next_id_++;
    auto session =
        std::make_unique<Pop3Session>(*context_, client.id, std::make_unique<FakeTransport>(client.io));
    Pop3Session& started = *session;
    sessions_.emplace(client.id, std::move(session));
    started.start();
    read_written_until(loop_, *client.io, client.read_pos, "\r\n");
    return client;
  }
  std::string command(Client& client, std::string_view line, std::string_view until = "\r\n") {
    EXPECT_NE(client.io->handler, nullptr);
    if (client.io->handler == nullptr) return {};
    client.io->handler->on_data(std::string(line) + "\r\n");
    return read_written_until(loop_, *client.io, client.read_pos, until);
  }
  std::string login(Client& client, std::string_view password) {
    command(client, "USER alice");
    return command(client, "PASS " + std::string(password));
  }
  bool finish(Client& client) {
    return run_loop_until(loop_, [&] { return sessions_.count(client.id) == 0; });
  }
  // One whole polling session: login, STAT, QUIT.
  std::string poll(std::string_view password = "secret") {
    Client client = connect();
    std::string reply = login(client, password);
    if (reply.starts_with("+OK")) reply = command(client, "STAT");
    command(client, "QUIT");
    EXPECT_TRUE(finish(client));
    return reply;
  }

  Metrics metrics_;  // outlives the loop, whose dropped work may hold gauge tokens
  io::Loop loop_;
  ScriptedUpstream upstream_;
  PoolingFactory factory_{loop_, upstream_, {60'000, 10}};
  LoginRouterPtr router_ = make_passthrough_router(loop_, factory_);
  MaildropLocks locks_;
  NoLoginThrottle throttle_;
  NoIdentityGovernor governor_;
  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  std::unique_ptr<SessionContext> context_;
  std::map<uint64_t, std::unique_ptr<Pop3Session>> sessions_;
  uint64_t next_id_ = 1;
};

TEST_F(SessionReuseTest, ASecondSessionReusesTheLoginAndSeesAFreshSnapshot) {
  EXPECT_EQ(poll(), "+OK 2 300\r\n");
  EXPECT_EQ(factory_.pool().parked(), 1u);
  upstream_.messages["13"] = 50;  // delivered between the two sessions
  EXPECT_EQ(poll(), "+OK 3 350\r\n");
  EXPECT_EQ(upstream_.logins, 1u);
  EXPECT_EQ(upstream_.reopens, 1u);
  EXPECT_EQ(factory_.pool().parked(), 1u);
  EXPECT_EQ(upstream_.live, 1u);
}

TEST_F(SessionReuseTest, DeletionsOfTheFirstSessionAreGoneInTheSecond) {
  Client first = connect();
  login(first, "secret");
  command(first, "DELE 1");
  EXPECT_EQ(command(first, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_TRUE(finish(first));
  EXPECT_EQ(poll(), "+OK 1 200\r\n");
  EXPECT_EQ(upstream_.logins, 1u);
}

TEST_F(SessionReuseTest, AnotherPasswordMissesThePoolAndTheUpstreamJudgesIt) {
  poll();
  Client client = connect();
  EXPECT_EQ(login(client, "guess"), "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(upstream_.logins, 2u) << "the wrong password went upstream";
  EXPECT_EQ(upstream_.reopens, 0u);
  EXPECT_EQ(factory_.pool().parked(), 1u) << "alice's parked session stays for alice";
  command(client, "QUIT");
  ASSERT_TRUE(finish(client));
}

TEST_F(SessionReuseTest, NothingIsParkedAfterADroppedClientOrAFailedUpdate) {
  Client dropped = connect();
  login(dropped, "secret");
  dropped.io->handler->on_end(io::StreamEnd{false, "connection reset by peer"});
  ASSERT_TRUE(finish(dropped));
  EXPECT_EQ(factory_.pool().parked(), 0u);

  upstream_.fail_commit = true;
  Client failed = connect();
  login(failed, "secret");
  command(failed, "DELE 1");
  EXPECT_TRUE(command(failed, "QUIT").starts_with("-ERR [SYS/TEMP]"));
  ASSERT_TRUE(finish(failed));
  EXPECT_EQ(factory_.pool().parked(), 0u);
  EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live == 0; }));
}

TEST_F(SessionReuseTest, QuitBeforeLoginAndAFailedLoginParkNothing) {
  Client client = connect();
  EXPECT_EQ(login(client, "guess"), "-ERR [AUTH] Authentication failed.\r\n");
  command(client, "QUIT");
  ASSERT_TRUE(finish(client));
  EXPECT_EQ(factory_.pool().parked(), 0u);
}

TEST_F(SessionReuseTest, AParkedSessionThatDiedUnnoticedCostsAFreshLoginNotAFailure) {
  poll();
  ASSERT_EQ(factory_.pool().parked(), 1u);
  // The connection died without a word (a silent NAT timeout): only the reopen finds out.
  upstream_.reopen_failure = ErrorKind::Temporary;
  EXPECT_EQ(poll(), "+OK 2 300\r\n");
  EXPECT_EQ(upstream_.reopens, 1u);
  EXPECT_EQ(upstream_.logins, 2u);
  EXPECT_EQ(factory_.pool().parked(), 1u) << "the fresh login is parked in turn";
}

TEST_F(SessionReuseTest, AParkedSessionTheUpstreamNowRefusesAnswersTheLoginWithoutASecondTry) {
  poll();
  // E.g. a JMAP 401 on the reopen: the password was changed upstream meanwhile.
  upstream_.reopen_failure = ErrorKind::Auth;
  EXPECT_EQ(poll(), "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(upstream_.reopens, 1u);
  EXPECT_EQ(upstream_.logins, 1u) << "no fresh login after a refusal";
  EXPECT_EQ(factory_.pool().parked(), 0u);
}

}  // namespace
}  // namespace popgate
