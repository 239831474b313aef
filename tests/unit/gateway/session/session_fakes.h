// In-memory stand-ins for a session's two peers: a client Transport and a scripted Mailbox.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "adapters/mailbox.h"
#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/transport.h"

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

}  // namespace popgate::testing
