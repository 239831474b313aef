// RedisConnection: pipelined RESP2 over a TCP or TLS transport, logged in on every connection.
//
// Lifetime: as HttpConnection's. `alive_` guards every call out to a caller's callback (which may
// destroy the connection); `link_alive_` is revoked whenever the link is dropped, so a connect or
// handshake callback of an old link finds it gone. Transports are detached and destroyed from the
// loop, never while one of their callbacks may be on the stack.
#include "gateway/io/redis_connection.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

#include "gateway/io/liveness.h"
#include "gateway/io/redis_sentinel.h"
#include "gateway/io/redis_sentinel_replies.h"
#include "gateway/io/tcp_connector.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls_transport.h"
#include "protocol/common/wipe.h"

namespace popgate::io {

class RedisConnection::Impl final : public TransportHandler {
 public:
  Impl(Loop& loop, RedisEndpoint endpoint, std::shared_ptr<TlsClientContext> tls_context,
       RedisOptions options)
      : loop_(loop),
        endpoint_(std::move(endpoint)),
        tls_context_(std::move(tls_context)),
        options_(options),
        deadline_timer_(loop),
        reconnect_timer_(loop) {
    if (!endpoint_.sentinels.empty()) {
      resolver_ = std::make_unique<SentinelResolver>(loop_, endpoint_.sentinels, endpoint_.master_name,
                                                     options_.connect_timeout_ms);
      watch_ = std::make_unique<SentinelWatch>(
          loop_, endpoint_.sentinels, endpoint_.master_name,
          SentinelWatch::Options{.timeout_ms = options_.connect_timeout_ms,
                                 .backoff_min_ms = options_.reconnect_backoff_min_ms,
                                 .backoff_max_ms = options_.reconnect_backoff_max_ms},
          [this](const HostPort& master) { on_switch_master(master); });
    } else {
      server_ = HostPort{endpoint_.host, endpoint_.port};
    }
    connect();
  }

  ~Impl() override {
    alive_.revoke();
    drop_link();
  }

  void command(std::vector<std::string> args, Done done);
  bool up() const { return link_ == Link::Up; }
  const std::string& down_reason() const { return down_reason_; }
  const RedisEndpoint& endpoint() const { return endpoint_; }
  std::string server() const { return server_.host.empty() ? "" : to_string(server_); }
  void set_listener(StateListener listener) { listener_ = std::move(listener); }

  // TransportHandler
  void on_data(std::string_view data) override;
  void on_end(const StreamEnd& end) override;

 private:
  enum class Link {
    Down,         // nothing open; the reconnect timer runs
    Discovering,  // the sentinels are asked where the master is
    Connecting,   // TCP (and TLS) in flight
    LoggingIn,    // AUTH / SELECT / PING (/ ROLE) sent, their replies awaited
    Up,
  };

  struct Pending {
    std::string wire;  // until it is written
    Done done;
    uint64_t deadline_ms = 0;
  };

  void connect();
  void on_discovered(Result<HostPort> master);
  void connect_server();
  void on_connected(Result<TransportPtr> result);
  void on_secure(Status status);
  void log_in();
  // The last login reply; with sentinels it is ROLE's, which must say "master".
  void on_last_login_reply(const RedisReply& reply);
  void on_logged_in();
  void on_switch_master(const HostPort& master);
  // The reason with the server it is about, when sentinels chose it.
  std::string about_server(const std::string& reason) const;
  // Writes what waited for the connection.
  void flush_waiting();
  void arm_deadline();
  void on_deadline();
  // The link failed: everything pending fails with `reason`, and the next attempt is scheduled.
  void fail_link(const std::string& reason);
  void drop_link();
  // Runs `done` with `error` from the loop, never inside the caller's call.
  void fail_later(Done done, Error error);
  // Completes every command in `pending` with `error`; stops if a callback destroys this.
  void fail_all(std::deque<Pending>& pending, const Error& error);
  void notify(bool up, const std::string& reason);

  Loop& loop_;
  RedisEndpoint endpoint_;
  std::shared_ptr<TlsClientContext> tls_context_;
  RedisOptions options_;
  StateListener listener_;
  std::unique_ptr<SentinelResolver> resolver_;  // with sentinels
  std::unique_ptr<SentinelWatch> watch_;        // with sentinels
  HostPort server_;                             // of the latest link

  Link link_ = Link::Down;
  ConnectOperationPtr connecting_;
  TransportPtr transport_;
  std::unique_ptr<RedisReplyReader> reader_;
  Liveness link_alive_;
  std::deque<Pending> waiting_;  // not written yet: the connection is not up
  std::deque<Pending> sent_;     // written, their replies awaited in order
  size_t login_replies_ = 0;     // of sent_'s front: the login's own
  bool reported_up_ = false;     // what the listener heard last
  bool reported_once_ = false;
  std::string reported_server_;  // where it was up when the listener heard it
  std::string down_reason_ = "not connected yet";
  uint64_t connect_deadline_ms_ = 0;  // the attempt in progress gives up then
  uint64_t backoff_ms_ = 0;           // the next wait before reconnecting; 0: at once
  Timer deadline_timer_;
  Timer reconnect_timer_;
  Liveness alive_;
};

// ---------------------------------------------------------------- the link

void RedisConnection::Impl::connect() {
  if (!resolver_) return connect_server();
  // Every connection asks again (the client guidelines' "handle reconnections"): whatever broke
  // the last link may have been a failover.
  link_ = Link::Discovering;
  resolver_->resolve([this, link = link_alive_.watch()](Result<HostPort> master) {
    if (!link) return;
    on_discovered(std::move(master));
  });
}

void RedisConnection::Impl::on_discovered(Result<HostPort> master) {
  if (!master) return fail_link(master.error().detail);
  server_ = std::move(master).value();
  connect_server();
}

void RedisConnection::Impl::connect_server() {
  link_ = Link::Connecting;
  connecting_ = connect_tcp(loop_, server_.host, server_.port, options_.connect_timeout_ms,
                            [this, link = link_alive_.watch()](Result<TransportPtr> result) {
                              if (!link) return;
                              on_connected(std::move(result));
                            });
  // The login must finish within the connect timeout as well.
  connect_deadline_ms_ = loop_.now_ms() + options_.connect_timeout_ms;
  arm_deadline();
}

void RedisConnection::Impl::on_connected(Result<TransportPtr> result) {
  loop_.deferred_delete(std::move(connecting_));         // this runs inside its callback
  if (!result) return fail_link(result.error().detail);  // it names the address
  TransportPtr tcp = std::move(result).value();
  if (!endpoint_.tls) {
    transport_ = std::move(tcp);
    return log_in();
  }
  transport_ =
      TlsTransport::connect(loop_, std::move(tcp), tls_context_, endpoint_.host, options_.connect_timeout_ms,
                            [this, link = link_alive_.watch()](Status status) {
                              if (!link) return;
                              on_secure(std::move(status));
                            });
}

void RedisConnection::Impl::on_secure(Status status) {
  if (!status) return fail_link("TLS: " + status.error().detail);
  log_in();
}

void RedisConnection::Impl::log_in() {
  link_ = Link::LoggingIn;
  reader_ = std::make_unique<RedisReplyReader>(options_.reply_limits);
  transport_->set_handler(this);
  transport_->start_reading();
  // One write: the login, then a PING whose PONG says the server answers commands (not
  // "-LOADING", not "-NOAUTH" because it wants a password nobody configured).
  std::string wire;
  login_replies_ = 0;
  if (!endpoint_.password.empty()) {
    wire += endpoint_.user.empty()
                ? encode_redis_command({"AUTH", endpoint_.password.reveal()})
                : encode_redis_command({"AUTH", endpoint_.user, endpoint_.password.reveal()});
    ++login_replies_;
  }
  if (endpoint_.database != 0) {
    wire += encode_redis_command({"SELECT", std::to_string(endpoint_.database)});
    ++login_replies_;
  }
  wire += encode_redis_command({"PING"});
  ++login_replies_;
  if (resolver_) {
    // The guidelines' step 3: what a sentinel named a moment ago may be a replica by now.
    wire += encode_redis_command({"ROLE"});
    ++login_replies_;
  }
  transport_->write(wire);
  wipe(wire);
}

void RedisConnection::Impl::on_last_login_reply(const RedisReply& reply) {
  if (resolver_) {
    Result<std::string> role = parse_role(reply);
    if (!role) return fail_link(about_server("ROLE: " + role.error().detail));
    if (role.value() != "master") {
      // A failover in progress: the next attempt, after the backoff, asks the sentinels again.
      return fail_link(
          about_server("not a master but a " + role.value().substr(0, 20) + " (a failover in progress?)"));
    }
  }
  on_logged_in();
}

void RedisConnection::Impl::on_switch_master(const HostPort& master) {
  if (link_ == Link::Down) {
    // Waiting out a backoff, most likely for this very failover: no need to wait any longer.
    reconnect_timer_.stop();
    return connect();
  }
  // A link on its way checks ROLE; one that is up is broken, and opened again at once.
  if (link_ != Link::Up || (master.host == server_.host && master.port == server_.port)) return;
  fail_link("the sentinels moved master '" + endpoint_.master_name + "' to " + to_string(master));
}

std::string RedisConnection::Impl::about_server(const std::string& reason) const {
  return resolver_ ? "master " + to_string(server_) + ": " + reason : reason;
}

void RedisConnection::Impl::on_logged_in() {
  link_ = Link::Up;
  backoff_ms_ = 0;
  down_reason_.clear();
  flush_waiting();
  arm_deadline();
  notify(true, {});
}

void RedisConnection::Impl::flush_waiting() {
  std::string wire;
  while (!waiting_.empty()) {
    Pending pending = std::move(waiting_.front());
    waiting_.pop_front();
    wire += pending.wire;
    pending.wire.clear();
    sent_.push_back(std::move(pending));
  }
  if (!wire.empty()) transport_->write(wire);
}

void RedisConnection::Impl::fail_link(const std::string& reason) {
  const bool was_up = link_ == Link::Up;
  drop_link();
  Liveness::Watch alive = alive_.watch();
  // A connection that was up and broke is opened again at once; one that cannot be opened waits
  // longer each time.
  if (was_up) {
    backoff_ms_ = 0;
  } else {
    notify(false, reason);
    if (!alive) return;
  }
  down_reason_ = reason;
  const uint64_t wait_ms = backoff_ms_;
  backoff_ms_ = std::min(options_.reconnect_backoff_max_ms,
                         std::max(options_.reconnect_backoff_min_ms, backoff_ms_ * 2));
  if (wait_ms == 0) {
    connect();
  } else {
    reconnect_timer_.start(wait_ms, [this] { connect(); });
  }
  // What was written may have run or not: only the caller knows what to make of that.
  std::deque<Pending> sent = std::move(sent_);
  fail_all(sent, make_error(ErrorKind::Temporary, "the state store connection broke: " + reason));
  if (!alive) return;
  if (!was_up) {
    // Nothing waits for a link that keeps failing: the caller decides what to do without it.
    std::deque<Pending> waiting = std::move(waiting_);
    fail_all(waiting, make_error(ErrorKind::Temporary, "the state store is unreachable: " + reason));
  }
}

void RedisConnection::Impl::drop_link() {
  link_alive_.revoke();
  link_ = Link::Down;
  connecting_.reset();  // cancels: its callback never runs
  if (resolver_) resolver_->cancel();
  reader_.reset();
  if (transport_) {
    transport_->set_handler(nullptr);
    transport_->stop_reading();
    loop_.deferred_delete(std::move(transport_));
  }
}

// ---------------------------------------------------------------- commands

void RedisConnection::Impl::command(std::vector<std::string> args, Done done) {
  if (link_ == Link::Down) {
    return fail_later(std::move(done),
                      make_error(ErrorKind::Temporary, "the state store is unreachable: " + down_reason_));
  }
  if (waiting_.size() + sent_.size() >= options_.max_pending_commands) {
    return fail_later(std::move(done),
                      make_error(ErrorKind::Temporary, "too many state store commands pending"));
  }
  Pending pending{encode_redis_command(args), std::move(done), loop_.now_ms() + options_.command_timeout_ms};
  if (link_ == Link::Up) {
    transport_->write(pending.wire);
    pending.wire.clear();
    sent_.push_back(std::move(pending));
  } else {
    waiting_.push_back(std::move(pending));
  }
  if (!deadline_timer_.active()) arm_deadline();
}

void RedisConnection::Impl::on_data(std::string_view data) {
  Liveness::Watch alive = alive_.watch();
  reader_->feed(data);
  while (std::optional<RedisReply> reply = reader_->next()) {
    if (login_replies_ > 0) {
      --login_replies_;
      if (reply->is_error()) {
        return fail_link(about_server("the store refused the login: " + reply->text.substr(0, 200)));
      }
      if (login_replies_ == 0) {
        on_last_login_reply(*reply);
        if (!alive || !reader_) return;  // destroyed, or not a master
      }
      continue;
    }
    if (sent_.empty()) return fail_link("a reply nobody asked for");
    if (reply->error_code() == "READONLY") {
      // The server became a replica under us (a failover behind one endpoint that keeps its
      // connections): a new connection finds the new primary, this one never will.
      return fail_link("the store turned read-only (a replica now): " + reply->text.substr(0, 200));
    }
    Done done = std::move(sent_.front().done);
    sent_.pop_front();
    done(std::move(*reply));
    if (!alive || !reader_) return;  // destroyed, or the link went with a callback
  }
  if (reader_->failed()) return fail_link("malformed reply: " + reader_->error());
  arm_deadline();
}

void RedisConnection::Impl::on_end(const StreamEnd& end) {
  fail_link(about_server(end.reason.empty() ? "the store closed the connection" : end.reason));
}

// ---------------------------------------------------------------- deadlines

void RedisConnection::Impl::arm_deadline() {
  uint64_t deadline = UINT64_MAX;
  if (link_ == Link::Connecting || link_ == Link::LoggingIn) deadline = connect_deadline_ms_;
  if (!sent_.empty()) deadline = std::min(deadline, sent_.front().deadline_ms);
  if (!waiting_.empty()) deadline = std::min(deadline, waiting_.front().deadline_ms);
  if (deadline == UINT64_MAX) return deadline_timer_.stop();
  const uint64_t now = loop_.now_ms();
  deadline_timer_.start(deadline > now ? deadline - now : 0, [this] { on_deadline(); });
}

void RedisConnection::Impl::on_deadline() {
  const uint64_t now = loop_.now_ms();
  if ((link_ == Link::Connecting || link_ == Link::LoggingIn) && now >= connect_deadline_ms_) {
    // A server that accepts but never answers (stopped, overloaded) ends here, not in a hang.
    return fail_link(
        about_server("connecting timed out after " + std::to_string(options_.connect_timeout_ms) + " ms"));
  }
  if (!sent_.empty() && now >= sent_.front().deadline_ms) {
    // Replies come in order: every later command is stuck behind this one.
    return fail_link("a command timed out after " + std::to_string(options_.command_timeout_ms) + " ms");
  }
  Liveness::Watch alive = alive_.watch();
  while (!waiting_.empty() && now >= waiting_.front().deadline_ms) {
    Done done = std::move(waiting_.front().done);
    waiting_.pop_front();
    done(make_error(ErrorKind::Temporary, "timed out waiting for the state store connection"));
    if (!alive) return;
  }
  arm_deadline();
}

// ---------------------------------------------------------------- callbacks out

void RedisConnection::Impl::fail_later(Done done, Error error) {
  loop_.defer([alive = alive_.watch(), done = std::move(done), error = std::move(error)] {
    if (alive) done(error);
  });
}

void RedisConnection::Impl::fail_all(std::deque<Pending>& pending, const Error& error) {
  Liveness::Watch alive = alive_.watch();
  for (Pending& each : pending) {
    each.done(error);
    if (!alive) return;
  }
}

void RedisConnection::Impl::notify(bool up, const std::string& reason) {
  // Up again at another server (the sentinels' new master) is news too.
  const std::string server = this->server();
  if (reported_once_ && reported_up_ == up && (!up || reported_server_ == server)) return;
  reported_once_ = true;
  reported_up_ = up;
  if (up) reported_server_ = server;
  if (listener_) listener_(up, reason);
}

// ---------------------------------------------------------------- RedisConnection

RedisConnection::RedisConnection(Loop& loop, RedisEndpoint endpoint,
                                 std::shared_ptr<TlsClientContext> tls_context, RedisOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(endpoint), std::move(tls_context), options)) {}

RedisConnection::~RedisConnection() = default;

void RedisConnection::command(std::vector<std::string> args, Done done) {
  impl_->command(std::move(args), std::move(done));
}

void RedisConnection::eval(const RedisScript& script, std::vector<std::string> keys,
                           std::vector<std::string> args, Done done) {
  std::vector<std::string> request;
  request.reserve(3 + keys.size() + args.size());
  request.push_back("EVALSHA");
  request.push_back(script.sha1);
  request.push_back(std::to_string(keys.size()));
  for (std::string& key : keys) request.push_back(std::move(key));
  for (std::string& arg : args) request.push_back(std::move(arg));
  // The fallback is this same request with the source in the digest's place; `script` outlives
  // the connection (scripts are made once, at start-up).
  impl_->command(request, [this, &script, request, done = std::move(done)](Result<RedisReply> reply) mutable {
    if (!reply || reply.value().error_code() != "NOSCRIPT") return done(std::move(reply));
    request[0] = "EVAL";
    request[1] = script.source;
    impl_->command(std::move(request), std::move(done));
  });
}

bool RedisConnection::up() const {
  return impl_->up();
}

const std::string& RedisConnection::down_reason() const {
  return impl_->down_reason();
}

const RedisEndpoint& RedisConnection::endpoint() const {
  return impl_->endpoint();
}

std::string RedisConnection::server() const {
  return impl_->server();
}

void RedisConnection::set_state_listener(StateListener listener) {
  impl_->set_listener(std::move(listener));
}

}  // namespace popgate::io
