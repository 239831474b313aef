// SentinelResolver and SentinelWatch, over SentinelLink: one plain-TCP conversation with a sentinel.
//
// Lifetime: a link is owned by its resolver or watch and is replaced or dropped from inside its
// own callbacks, so it always goes through Loop::deferred_delete; its connect operation, timer
// and transport die with it, and so do their callbacks.
#include "gateway/io/redis_sentinel.h"

#include <algorithm>
#include <utility>

#include "gateway/io/liveness.h"
#include "gateway/io/redis_command.h"
#include "gateway/io/redis_reply_reader.h"
#include "gateway/io/redis_sentinel_replies.h"
#include "gateway/io/tcp_connector.h"

namespace popgate::io {

// Connects, sends one command, and hands over each reply until it is destroyed, or its end once
// (could not connect, closed, malformed, no first reply within the timeout) with a reason that
// names the sentinel.
class SentinelLink final : public TransportHandler {
 public:
  using OnReply = std::function<void(const RedisReply&)>;
  using OnEnd = std::function<void(const std::string& reason)>;

  SentinelLink(Loop& loop, const HostPort& sentinel, const std::vector<std::string>& command,
               uint64_t timeout_ms, OnReply on_reply, OnEnd on_end)
      : loop_(loop),
        name_("sentinel " + to_string(sentinel)),
        wire_(encode_redis_command(command)),
        timeout_ms_(timeout_ms),
        on_reply_(std::move(on_reply)),
        on_end_(std::move(on_end)),
        timer_(loop) {
    connecting_ = connect_tcp(loop_, sentinel.host, sentinel.port, timeout_ms,
                              [this](Result<TransportPtr> result) { on_connected(std::move(result)); });
    // Connecting and the first reply: a sentinel that accepts and never answers costs this much.
    timer_.start(timeout_ms_,
                 [this] { end(name_ + ": no answer within " + std::to_string(timeout_ms_) + " ms"); });
  }

  ~SentinelLink() override {
    alive_.revoke();
    connecting_.reset();
    if (transport_) {
      transport_->set_handler(nullptr);
      transport_->stop_reading();
      loop_.deferred_delete(std::move(transport_));
    }
  }

  void on_data(std::string_view data) override {
    if (ended_) return;
    Liveness::Watch alive = alive_.watch();
    reader_.feed(data);
    while (std::optional<RedisReply> reply = reader_.next()) {
      timer_.stop();
      on_reply_(*reply);
      if (!alive || ended_) return;
    }
    if (reader_.failed()) end(name_ + ": malformed reply: " + reader_.error());
  }

  void on_end(const StreamEnd& end_of_stream) override {
    end(name_ + ": " + (end_of_stream.reason.empty() ? "closed the connection" : end_of_stream.reason));
  }

  // Another command on the same connection; its reply is due within the timeout.
  void send(const std::vector<std::string>& command) {
    if (ended_ || !transport_) return;
    transport_->write(encode_redis_command(command));
    if (!timer_.active()) {
      timer_.start(timeout_ms_,
                   [this] { end(name_ + ": no answer within " + std::to_string(timeout_ms_) + " ms"); });
    }
  }

  // No callback runs any more: the owner is done with it (and may be gone before it is destroyed).
  void detach() {
    ended_ = true;
    connecting_.reset();  // cancels; never its own callback's (on_connected took it first)
    timer_.stop();
    if (transport_) transport_->stop_reading();
  }

 private:
  void on_connected(Result<TransportPtr> result) {
    loop_.deferred_delete(std::move(connecting_));   // this runs inside its callback
    if (!result) return end(result.error().detail);  // "connect 10.0.0.5:26379: connection refused"
    transport_ = std::move(result).value();
    transport_->set_handler(this);
    transport_->start_reading();
    transport_->write(wire_);
  }

  void end(const std::string& reason) {
    if (ended_) return;
    ended_ = true;
    timer_.stop();
    if (transport_) transport_->stop_reading();
    on_end_(reason);
  }

  Loop& loop_;
  const std::string name_;  // for the reasons: "sentinel 10.0.0.5:26379"
  const std::string wire_;
  const uint64_t timeout_ms_;
  OnReply on_reply_;
  OnEnd on_end_;
  ConnectOperationPtr connecting_;
  TransportPtr transport_;
  RedisReplyReader reader_;
  Timer timer_;
  bool ended_ = false;
  Liveness alive_;
};

namespace {

// Links are dropped from inside their own callbacks: detached at once, destroyed on the next tick.
void drop(Loop& loop, std::unique_ptr<SentinelLink>& link) {
  if (!link) return;
  link->detach();
  loop.deferred_delete(std::move(link));
}

}  // namespace

// ---------------------------------------------------------------- SentinelResolver

SentinelResolver::SentinelResolver(Loop& loop, std::vector<HostPort> sentinels, std::string master_name,
                                   uint64_t timeout_ms)
    : loop_(loop),
      sentinels_(std::move(sentinels)),
      master_name_(std::move(master_name)),
      timeout_ms_(timeout_ms) {}

SentinelResolver::~SentinelResolver() {
  cancel();
}

void SentinelResolver::resolve(Done done) {
  cancel();
  done_ = std::move(done);
  failures_.clear();
  any_answered_ = false;
  ask(0);
}

void SentinelResolver::cancel() {
  done_ = nullptr;
  drop(loop_, link_);
}

void SentinelResolver::ask(size_t index) {
  drop(loop_, link_);  // the previous sentinel's, whose callback may be running
  if (index >= sentinels_.size()) {
    std::string reasons;
    for (const std::string& failure : failures_) reasons += (reasons.empty() ? "" : "; ") + failure;
    // Told apart for the operator: nothing reachable (the network, the sentinels' ports) is not
    // the same fault as sentinels that answer but do not know the name (a typo in the URL).
    return finish(
        make_error(ErrorKind::Temporary, any_answered_ ? reasons : "no sentinel answered: " + reasons));
  }
  link_ = std::make_unique<SentinelLink>(
      loop_, sentinels_[index], std::vector<std::string>{"SENTINEL", "get-master-addr-by-name", master_name_},
      timeout_ms_, [this, index](const RedisReply& reply) { on_reply(index, reply); },
      [this, index](const std::string& reason) { on_failed(index, reason); });
}

void SentinelResolver::on_reply(size_t index, const RedisReply& reply) {
  const std::string sentinel = "sentinel " + to_string(sentinels_[index]);
  Result<std::optional<HostPort>> address = parse_master_address(reply);
  any_answered_ = true;
  if (address && address.value()) {
    // The guidelines' step 1: the sentinel that answered is asked first next time.
    std::rotate(sentinels_.begin(), sentinels_.begin() + static_cast<std::ptrdiff_t>(index),
                sentinels_.begin() + static_cast<std::ptrdiff_t>(index) + 1);
    return finish(*address.value());
  }
  if (address) {
    failures_.push_back(sentinel + " does not know master '" + master_name_ + "'");
  } else if (address.error().kind == ErrorKind::Temporary) {
    failures_.push_back(sentinel + " answered: " + address.error().detail);
  } else {
    failures_.push_back(sentinel + ": " + address.error().detail);
  }
  ask(index + 1);
}

void SentinelResolver::on_failed(size_t index, const std::string& reason) {
  failures_.push_back(reason);
  ask(index + 1);
}

void SentinelResolver::finish(Result<HostPort> result) {
  drop(loop_, link_);
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result));  // last: it may destroy this
}

// ---------------------------------------------------------------- SentinelWatch

SentinelWatch::SentinelWatch(Loop& loop, std::vector<HostPort> sentinels, std::string master_name,
                             Options options, OnSwitch on_switch)
    : loop_(loop),
      sentinels_(std::move(sentinels)),
      master_name_(std::move(master_name)),
      options_(options),
      on_switch_(std::move(on_switch)),
      retry_timer_(loop),
      ping_timer_(loop) {
  open();
}

SentinelWatch::~SentinelWatch() {
  drop(loop_, link_);
}

void SentinelWatch::open() {
  if (sentinels_.empty()) return;
  subscribed_ = false;
  link_ = std::make_unique<SentinelLink>(
      loop_, sentinels_[next_ % sentinels_.size()], std::vector<std::string>{"SUBSCRIBE", "+switch-master"},
      options_.timeout_ms, [this](const RedisReply& reply) { on_reply(reply); },
      [this](const std::string&) { on_broken(); });
}

void SentinelWatch::on_reply(const RedisReply& reply) {
  if (!subscribed_) {
    // Anything but the confirmation ("-NOAUTH ...") means no events will come on this one.
    if (!is_switch_master_subscription(reply)) return on_broken();
    subscribed_ = true;
    backoff_ms_ = 0;
    ping_timer_.start(options_.ping_interval_ms, [this] { ping(); });
    return;
  }
  // Other masters' switches, on a sentinel that watches several, are not ours.
  std::optional<HostPort> master = parse_switch_master(reply, master_name_);
  if (master) on_switch_(*master);  // last: it may destroy this
}

void SentinelWatch::ping() {
  // The answer, ["pong", ""], is no event; a missing one ends the link (its timeout).
  if (link_) link_->send({"PING"});
  ping_timer_.start(options_.ping_interval_ms, [this] { ping(); });
}

void SentinelWatch::on_broken() {
  drop(loop_, link_);
  ping_timer_.stop();
  subscribed_ = false;
  ++next_;
  // Missing an event costs little (the master link breaks or turns read-only and rediscovers
  // anyway), so a sentinel that keeps failing is asked less and less often.
  const uint64_t wait_ms = std::max(options_.backoff_min_ms, backoff_ms_);
  backoff_ms_ = std::min(options_.backoff_max_ms, wait_ms * 2);
  retry_timer_.start(wait_ms, [this] { open(); });
}

}  // namespace popgate::io
