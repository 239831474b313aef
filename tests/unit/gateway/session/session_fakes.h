// In-memory stand-ins for a session's two peers (a client Transport and a scripted Mailbox), and
// the SessionHarness that drives Pop3Sessions against them.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adapters/mailbox.h"
#include "gateway/admin/metrics.h"
#include "gateway/config/config.h"
#include "gateway/identity/login_router.h"
#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/transport.h"
#include "gateway/limits/auth_throttle.h"
#include "gateway/limits/maildrop_lock.h"
#include "gateway/limits/upstream_governor.h"
#include "gateway/session/pop3_session.h"
#include "gateway/session/session_context.h"
#include "tests/unit/gateway/prometheus_text.h"

namespace popgate::testing {

// A client socket: what the session writes accumulates in `written`; the test decides
// how much of it the "network" has taken (queued_bytes) to exercise backpressure.
class FakeTransport final : public io::Transport {
 public:
  struct Shared {
    std::string written;
    size_t writes = 0;      // write() calls: one system call each on a real socket
    size_t taken = 0;       // octets of `written` the network accepted
    bool auto_take = true;  // a fast client: every write is taken at once
    bool ended = false;
    bool reading = false;
    bool destroyed = false;
    io::TransportHandler* handler = nullptr;
    io::Watermarks watermarks{1024, 256};
  };

  explicit FakeTransport(std::shared_ptr<Shared> shared, bool loopback = true) : shared_(std::move(shared)) {
    peer_.address = loopback ? "127.0.0.1" : "192.0.2.7";
    peer_.port = 40000;
    peer_.loopback = loopback;
  }
  ~FakeTransport() override { shared_->destroyed = true; }

  void set_handler(io::TransportHandler* handler) override { shared_->handler = handler; }
  void start_reading() override { shared_->reading = true; }
  void stop_reading() override { shared_->reading = false; }
  void write(std::string_view data) override {
    ++shared_->writes;
    shared_->written.append(data);
    if (shared_->auto_take) shared_->taken = shared_->written.size();
  }
  size_t queued_bytes() const override { return shared_->written.size() - shared_->taken; }
  const io::Watermarks& watermarks() const override { return shared_->watermarks; }
  void end() override {
    shared_->ended = true;
    shared_->handler = nullptr;
  }
  const io::PeerInfo& peer() const override { return peer_; }
  bool secure() const override { return false; }

 private:
  std::shared_ptr<Shared> shared_;
  io::PeerInfo peer_;
};

// The upstream: messages, scripted failures, and a record of what was asked.
struct FakeUpstream {
  struct Message {
    MessageInfo info;
    std::string body;
    bool gone = false;  // removed upstream after the snapshot
  };
  std::vector<Message> messages;
  std::string password = "secret";
  std::optional<ErrorKind> open_failure;  // instead of checking the password
  std::optional<ErrorKind> commit_failure;
  bool stall_commit = false;  // commit() never answers (an upstream that hangs)
  std::optional<ErrorKind> fail_fetch_after_start;
  size_t chunk_size = 100;                        // bytes per on_body_chunk
  std::vector<std::vector<std::string>> commits;  // upstream ids of each commit
  std::vector<std::string> fetched;               // upstream ids fetched
  size_t opens_answered = 0;                      // open() calls the upstream has answered
  size_t live_mailboxes = 0;                      // a gauge: constructed minus destroyed
  size_t max_fetch_chunks_while_paused = 0;
  bool paused = false;
};

class FakeMailbox final : public Mailbox {
 public:
  FakeMailbox(io::Loop& loop, FakeUpstream& upstream) : loop_(loop), upstream_(upstream) {
    ++upstream_.live_mailboxes;
  }
  ~FakeMailbox() override {
    alive_.revoke();
    --upstream_.live_mailboxes;
  }

  void open(Credentials credentials, OpenDone done) override {
    later([this, credentials = std::move(credentials), done = std::move(done)] {
      ++upstream_.opens_answered;
      if (upstream_.open_failure) return done(make_error(*upstream_.open_failure, "scripted"));
      if (credentials.password.reveal() != upstream_.password)
        return done(make_error(ErrorKind::Auth, "bad password"));
      Snapshot snapshot;
      snapshot.mailbox_key = "fake/" + credentials.user;
      for (const auto& message : upstream_.messages) snapshot.messages.push_back(message.info);
      done(std::move(snapshot));
    });
  }

  void fetch(const MessageInfo& message, FetchKind, BodySink& sink, Done done) override {
    upstream_.fetched.push_back(message.upstream_id);
    auto it = std::find_if(upstream_.messages.begin(), upstream_.messages.end(),
                           [&](const auto& m) { return m.info.upstream_id == message.upstream_id; });
    if (it == upstream_.messages.end() || it->gone) {
      return later([done = std::move(done)] { done(make_error(ErrorKind::NotFound, "gone")); });
    }
    body_ = it->body;
    offset_ = 0;
    sink_ = &sink;
    done_ = std::move(done);
    later([this] {
      sink_->on_body_start();
      stream();
    });
  }

  void pause_body() override { upstream_.paused = true; }
  void resume_body() override {
    upstream_.paused = false;
    later([this] { stream(); });
  }

  void commit(std::vector<MessageInfo> deleted, Done done) override {
    later([this, deleted = std::move(deleted), done = std::move(done)] {
      if (upstream_.stall_commit) return;  // `done` is dropped unanswered with the mailbox
      if (upstream_.commit_failure) return done(make_error(*upstream_.commit_failure, "scripted"));
      std::vector<std::string> ids;
      for (const auto& message : deleted) ids.push_back(message.upstream_id);
      upstream_.commits.push_back(ids);
      done(Ok{});
    });
  }

  std::string_view kind() const override { return "fake"; }

 private:
  void later(std::function<void()> fn) {
    loop_.defer([alive = alive_.watch(), fn = std::move(fn)] {
      if (!alive) return;
      fn();
    });
  }

  // One chunk per tick, like a socket; stops while paused.
  void stream() {
    if (!done_ || upstream_.paused) return;
    if (upstream_.fail_fetch_after_start && offset_ > 0) {
      auto done = std::move(done_);
      done_ = nullptr;
      return done(make_error(*upstream_.fail_fetch_after_start, "scripted mid-stream failure"));
    }
    if (offset_ < body_.size()) {
      std::string_view chunk = std::string_view(body_).substr(offset_, upstream_.chunk_size);
      offset_ += chunk.size();
      bool more = sink_->on_body_chunk(chunk);
      if (more && offset_ < body_.size()) return later([this] { stream(); });
    }
    auto done = std::move(done_);
    done_ = nullptr;
    done(Ok{});
  }

  io::Loop& loop_;
  FakeUpstream& upstream_;
  std::string body_;
  size_t offset_ = 0;
  BodySink* sink_ = nullptr;
  Done done_;
  io::Liveness alive_;
};

class FakeMailboxFactory final : public MailboxFactory {
 public:
  FakeMailboxFactory(io::Loop& loop, FakeUpstream& upstream) : loop_(loop), upstream_(upstream) {}
  MailboxPtr create() override { return std::make_unique<FakeMailbox>(loop_, upstream_); }

 private:
  io::Loop& loop_;
  FakeUpstream& upstream_;
};

// Turns the loop until `done` holds; false if it did not within the timeout.
inline bool run_loop_until(io::Loop& loop, const std::function<bool()>& done, int timeout_ms = 3000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_nowait();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// What the session wrote to the client since `read_pos`, once it contains `until` (then
// `read_pos` moves past it). If it never comes, the test fails and gets everything written.
inline std::string read_written_until(io::Loop& loop, const FakeTransport::Shared& io, size_t& read_pos,
                                      std::string_view until) {
  bool found = run_loop_until(loop, [&] { return io.written.find(until, read_pos) != std::string::npos; });
  EXPECT_TRUE(found) << "never saw '" << until << "' in: " << io.written.substr(read_pos);
  auto end = io.written.find(until, read_pos);
  if (end == std::string::npos) return io.written.substr(read_pos);
  end += until.size();
  std::string out = io.written.substr(read_pos, end - read_pos);
  read_pos = end;
  return out;
}

// Drives Pop3Sessions, each on a FakeTransport, against a MailboxFactory: FakeMailboxFactory over
// `upstream_` unless the fixture installs another with use_factory(). The one place a test
// SessionContext is built.
//
// Members are declared so that nothing is destroyed before what refers to it: what a session (or
// work the loop still holds for it, such as a retired mailbox) points at comes first, then the
// loop, then what owns loop handles (the factory, the sessions). TearDown ends every session,
// checks that nothing is left (no session, no mailbox, no maildrop lock, and the gauges for
// active sessions and open upstream connections back at zero), then destroys the sessions and
// the factory while the fakes a fixture owns, which the factory may refer to, still exist.
class SessionHarness : public ::testing::Test {
 protected:
  // One client connection: its "network" and how far the test has read what the session wrote.
  struct Client {
    Client() = default;
    Client(const Client&) = delete;  // a copy would read on from its own position
    Client& operator=(const Client&) = delete;

    std::shared_ptr<FakeTransport::Shared> io = std::make_shared<FakeTransport::Shared>();
    uint64_t id = 0;
    size_t read_pos = 0;
    size_t bytes_sent = 0;  // by the client
  };

  // The limits a fixture looks at. Without them a session has no throttling beyond the fixed
  // --auth-failure-delay and no per-identity upstream governor.
  struct Collaborators {
    bool auth_throttle = false;
    bool upstream_governor = false;
  };

  SessionHarness() : SessionHarness(Collaborators{}) {}
  explicit SessionHarness(Collaborators with) : with_(with) {}

  void TearDown() override {
    expect_nothing_left();
    release();
  }

  // Replaces the factory; only before the first connect(). Returns the factory, which the
  // harness owns.
  template <typename Factory>
  Factory& use_factory(std::unique_ptr<Factory> factory) {
    EXPECT_TRUE(context_ == nullptr) << "the sessions already have their factory";
    Factory& installed = *factory;
    factory_ = std::move(factory);
    return installed;
  }

  // A new session whose greeting the test has not read yet.
  Client& connect(bool loopback = true) {
    Client& client = clients_.emplace_back();
    client.id = next_id_++;
    auto session = std::make_unique<Pop3Session>(context(), client.id,
                                                 std::make_unique<FakeTransport>(client.io, loopback));
    Pop3Session& started = *session;
    sessions_.emplace(client.id, std::move(session));
    started.start();
    return client;
  }
  Client& connect_and_read_greeting() {
    Client& client = connect();
    read_until(client, "\r\n");
    return client;
  }

  // What the client sends; nothing if the session no longer reads.
  void send(Client& client, std::string_view bytes) {
    EXPECT_NE(client.io->handler, nullptr) << "the session no longer reads";
    if (client.io->handler == nullptr) return;
    client.bytes_sent += bytes.size();
    client.io->handler->on_data(bytes);
  }

  // Everything the client got since the last read, once it contains `until`.
  std::string read_until(Client& client, std::string_view until) {
    return read_written_until(loop_, *client.io, client.read_pos, until);
  }

  // Sends `line` and CRLF; returns what came back up to `until` (empty if the session no longer reads).
  std::string command(Client& client, std::string_view line, std::string_view until = "\r\n") {
    if (client.io->handler == nullptr) {
      ADD_FAILURE() << "the session no longer reads";
      return {};
    }
    send(client, std::string(line) + "\r\n");
    return read_until(client, until);
  }

  bool run_until(const std::function<bool()>& done, int timeout_ms = 3000) {
    return run_loop_until(loop_, done, timeout_ms);
  }
  // Turns the loop `times` times without waiting: a fake upstream that does one step per tick
  // (one chunk of a body) has had the chance to take that many steps.
  void turn_loop(size_t times) {
    for (size_t i = 0; i < times; ++i) loop_.run_nowait();
  }

  Pop3Session& session(const Client& client) { return *sessions_.at(client.id); }
  bool finished(const Client& client) const { return sessions_.count(client.id) == 0; }
  bool all_finished() const { return sessions_.empty(); }

  size_t bytes_from_clients() const {
    size_t n = 0;
    for (const Client& client : clients_) n += client.bytes_sent;
    return n;
  }
  size_t bytes_to_clients() const {
    size_t n = 0;
    for (const Client& client : clients_) n += client.io->written.size();
    return n;
  }

  // Referred to by sessions and by what the loop may still hold for them: declared before it.
  Metrics metrics_;
  FakeUpstream upstream_;
  MaildropLocks locks_;
  AuthThrottle auth_throttle_;
  UpstreamGovernor upstream_governor_;
  NoLoginThrottle no_throttle_;
  NoIdentityGovernor no_governor_;
  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  io::Loop loop_;
  LocalMaildropLockTable lock_table_{loop_, locks_};

 private:
  // Built at the first connect(), once the fixture has set up its factory and collaborators.
  SessionContext& context() {
    if (!context_) {
      router_ = make_passthrough_router(loop_, *factory_);  // every login goes to the factory
      context_ = std::make_unique<SessionContext>(SessionContext{
          .loop = loop_,
          .config = config_,
          .router = *router_,
          .locks = lock_table_,
          .certificates = nullptr,  // no STLS, no implicit TLS
          .on_finished = [this](uint64_t id) { loop_.defer([this, id] { sessions_.erase(id); }); },
          .metrics = metrics_,
          .auth_throttle = with_.auth_throttle ? static_cast<LoginThrottle&>(auth_throttle_) : no_throttle_,
          .upstream_governor =
              with_.upstream_governor ? static_cast<IdentityGovernor&>(upstream_governor_) : no_governor_,
      });
    }
    return *context_;
  }

  void expect_nothing_left() {
    for (auto& [id, session] : sessions_) session->shut_down();
    ASSERT_TRUE(run_until([&] { return sessions_.empty(); })) << sessions_.size() << " sessions never ended";
    // A session's mailbox, and the gauge token of its upstream connection, go on a later tick.
    EXPECT_TRUE(run_until([&] { return upstream_.live_mailboxes == 0 && raised_gauges().empty(); }))
        << upstream_.live_mailboxes << " fake mailboxes alive; gauges still up: " << raised_gauges();
    EXPECT_EQ(locks_.held(), 0u);
  }

  // The gauges of things that end with their session, where they are not zero.
  std::string raised_gauges() const {
    std::string raised;
    for (const PrometheusSample& sample : parse_prometheus_text(metrics_.serialize()).samples) {
      if (sample.name != "popgate_sessions_active" && sample.name != "popgate_upstream_connections_active")
        continue;
      if (sample.value == 0) continue;
      raised += sample.name;
      for (const auto& [label, value] : sample.labels) raised += " " + label + "=" + value;
      raised += " " + std::to_string(sample.value) + "; ";
    }
    return raised;
  }

  // The sessions (any a failure left) and the factory go now, before the fixture's own fakes,
  // which the factory may refer to, and not with the harness after them.
  void release() {
    sessions_.clear();
    context_.reset();
    router_.reset();
    factory_.reset();
    loop_.run_nowait();  // what they deferred (a mailbox let go of) runs while its fakes exist
  }

  const Collaborators with_;
  std::unique_ptr<MailboxFactory> factory_ = std::make_unique<FakeMailboxFactory>(loop_, upstream_);
  LoginRouterPtr router_;
  std::unique_ptr<SessionContext> context_;
  std::map<uint64_t, std::unique_ptr<Pop3Session>> sessions_;
  std::deque<Client> clients_;
  uint64_t next_id_ = 1;
};

}  // namespace popgate::testing
