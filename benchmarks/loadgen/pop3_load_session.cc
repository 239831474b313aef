// The per-connection POP3 client state machine of the load generator.
#include "benchmarks/loadgen/pop3_load_session.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace popgate::bench {
namespace {

constexpr size_t kMaxStatusLine = 4096;
constexpr size_t kReadChunk = 256 * 1024;

std::string printable_prefix(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

const char* step_name(Step step) {
  switch (step) {
    case Step::Connect:
      return "connect";
    case Step::User:
      return "USER";
    case Step::Pass:
      return "PASS";
    case Step::Stat:
      return "STAT";
    case Step::List:
      return "LIST";
    case Step::Uidl:
      return "UIDL";
    case Step::Retr:
      return "RETR";
    case Step::Quit:
      return "QUIT";
    case Step::Count:
      break;
  }
  return "?";
}

Pop3LoadSession::~Pop3LoadSession() {
  close_connection();
}

void Pop3LoadSession::close_connection() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Pop3LoadSession::start(const sockaddr_in& address, std::string user, const std::string& password,
                            in_addr source) {
  user_ = std::move(user);
  password_ = password;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    failure_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source.s_addr != INADDR_ANY) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr = source;
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
      failure_ = std::string("bind: ") + std::strerror(errno);
      close_connection();
      return false;
    }
  }
  session_started_ns_ = step_started_ns_ = monotonic_ns();
  step_ = Step::Connect;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS) {
    failure_ = std::string("connect: ") + std::strerror(errno);
    close_connection();
    return false;
  }
  connecting_ = true;
  return true;
}

Pop3LoadSession::Outcome Pop3LoadSession::fail(std::string why) {
  failure_ = std::string(step_name(step_)) + ": " + std::move(why);
  close_connection();
  return Outcome::Failed;
}

Pop3LoadSession::Outcome Pop3LoadSession::on_ready(uint32_t events) {
  if (connecting_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return Outcome::Pending;
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return fail(std::string("connect: ") + std::strerror(error));
    connecting_ = false;
  }
  if ((events & EPOLLOUT) && !out_.empty()) {
    if (const Outcome o = flush(); o != Outcome::Pending) return o;
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return Outcome::Pending;
  static thread_local char buffer[kReadChunk];
  Outcome result = Outcome::Pending;
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
      stats_.bytes += static_cast<uint64_t>(n);
      const Outcome o = feed(buffer, static_cast<size_t>(n));
      if (o == Outcome::Finished || o == Outcome::Failed) return o;
      if (o == Outcome::LoggedIn) result = o;
      if (static_cast<size_t>(n) < sizeof buffer) return result;
      continue;
    }
    if (n == 0) return fail(holding_ ? "server closed the idle session" : "server closed the connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK) return result;
    if (errno == EINTR) continue;
    return fail(std::string("recv: ") + std::strerror(errno));
  }
}

Pop3LoadSession::Outcome Pop3LoadSession::send_command(Step step, std::string line) {
  step_ = step;
  step_started_ns_ = monotonic_ns();
  out_ = std::move(line);
  out_ += "\r\n";
  return flush();
}

Pop3LoadSession::Outcome Pop3LoadSession::flush() {
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Outcome::Pending;
    if (n < 0 && errno == EINTR) continue;
    return fail(std::string("send: ") + std::strerror(errno));
  }
  return Outcome::Pending;
}

Pop3LoadSession::Outcome Pop3LoadSession::feed(const char* data, size_t size) {
  Outcome result = Outcome::Pending;
  while (size > 0) {
    if (in_body_) {
      bool done = false;
      const size_t used = body_.scan(data, size, done);
      data += used;
      size -= used;
      if (!done) continue;
      in_body_ = false;
      const Outcome o = on_response_complete();
      if (o != Outcome::Pending && o != Outcome::LoggedIn) return o;
      if (o == Outcome::LoggedIn) result = o;
      continue;
    }
    const void* lf = std::memchr(data, '\n', size);
    const size_t take = lf ? static_cast<size_t>(static_cast<const char*>(lf) - data) + 1 : size;
    line_.append(data, take);
    data += take;
    size -= take;
    if (!lf) {
      if (line_.size() > kMaxStatusLine) return fail("status line too long");
      continue;
    }
    std::string line;
    line.swap(line_);
    const Outcome o = on_status_line(line);
    if (o != Outcome::Pending && o != Outcome::LoggedIn) return o;
    if (o == Outcome::LoggedIn) result = o;
  }
  return result;
}

Pop3LoadSession::Outcome Pop3LoadSession::on_status_line(std::string_view line) {
  if (holding_) return fail("unexpected data while idle: " + printable_prefix(line));
  if (!line.starts_with("+OK")) return fail("-ERR reply: " + printable_prefix(line));
  if (step_ == Step::Stat) {
    // "+OK count octets"
    message_count_ = static_cast<uint32_t>(std::strtoul(std::string(line.substr(3)).c_str(), nullptr, 10));
  }
  if (step_ == Step::List || step_ == Step::Uidl || step_ == Step::Retr) {
    in_body_ = true;
    body_.reset();
    return Outcome::Pending;
  }
  return on_response_complete();
}

Pop3LoadSession::Outcome Pop3LoadSession::on_response_complete() {
  const uint64_t now = monotonic_ns();
  stats_.latency[static_cast<size_t>(step_)].record(now - step_started_ns_);
  if (batch_replies_left_ > 0) return on_batch_reply(now);
  switch (step_) {
    case Step::Connect:
      return send_command(Step::User, "USER " + user_);
    case Step::User:
      return send_command(Step::Pass, "PASS " + password_);
    case Step::Pass:
      if (plan_.hold_after_login) {
        holding_ = true;
        return Outcome::LoggedIn;
      }
      if (plan_.pipeline > 1 && snapshot_rounds_left_ > 0) return send_snapshot_batch();
      return send_command(Step::Stat, "STAT");
    case Step::Stat:
      if (plan_.quit_after_stat) return send_command(Step::Quit, "QUIT");
      if (snapshot_rounds_left_ > 0) return send_command(Step::List, "LIST");
      return send_command(Step::Uidl, "UIDL");
    case Step::List:
      return send_command(Step::Uidl, "UIDL");
    case Step::Uidl:
      if (snapshot_rounds_left_ > 0) {
        if (--snapshot_rounds_left_ == 0) return send_command(Step::Quit, "QUIT");
        if (plan_.think_ns == 0) return send_command(Step::Stat, "STAT");
        due_ns_ = now + jittered_think_ns();  // the driver calls send_due() then
        return Outcome::Pending;
      }
      return next_retr_or_quit();
    case Step::Retr:
      ++stats_.messages;
      return next_retr_or_quit();
    case Step::Quit:
      stats_.session.record(now - session_started_ns_);
      close_connection();
      return Outcome::Finished;
    case Step::Count:
      break;
  }
  return fail("internal: no step");
}

// Uniform in [T/2, 3T/2): sessions that logged in together would otherwise stay in step forever
// and reach the server as bursts, measuring the burst instead of one round trip.
uint64_t Pop3LoadSession::jittered_think_ns() {
  jitter_state_ ^= jitter_state_ << 13;
  jitter_state_ ^= jitter_state_ >> 7;
  jitter_state_ ^= jitter_state_ << 17;
  return plan_.think_ns / 2 + jitter_state_ % plan_.think_ns;
}

Pop3LoadSession::Outcome Pop3LoadSession::send_snapshot_batch() {
  const uint32_t rounds = std::min(plan_.pipeline, snapshot_rounds_left_);
  out_.clear();
  for (uint32_t i = 0; i < rounds; ++i) out_ += "STAT\r\nLIST\r\nUIDL\r\n";
  batch_replies_left_ = 3 * rounds;
  step_ = Step::Stat;
  step_started_ns_ = monotonic_ns();
  return flush();
}

// A reply of a pipelined batch: the next one is for the next command of the round.
Pop3LoadSession::Outcome Pop3LoadSession::on_batch_reply(uint64_t now) {
  --batch_replies_left_;
  if (step_ == Step::Uidl) --snapshot_rounds_left_;
  step_ = step_ == Step::Stat ? Step::List : step_ == Step::List ? Step::Uidl : Step::Stat;
  step_started_ns_ = now;
  if (batch_replies_left_ > 0) return Outcome::Pending;
  if (snapshot_rounds_left_ == 0 || run_over()) return send_command(Step::Quit, "QUIT");
  return send_snapshot_batch();
}

Pop3LoadSession::Outcome Pop3LoadSession::send_due() {
  due_ns_ = 0;
  if (run_over()) return send_command(Step::Quit, "QUIT");
  return send_command(Step::Stat, "STAT");
}

Pop3LoadSession::Outcome Pop3LoadSession::next_retr_or_quit() {
  if (next_message_ <= message_count_)
    return send_command(Step::Retr, "RETR " + std::to_string(next_message_++));
  return send_command(Step::Quit, "QUIT");
}

}  // namespace popgate::bench
