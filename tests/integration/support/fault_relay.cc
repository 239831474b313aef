// A fault-injecting TCP relay on 127.0.0.1 (port 0) between popgate and a real IMAP server.
#include "tests/integration/support/fault_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

// The relay stops reading a side while this much is still waiting to be written to the other one,
// so a slow reader is felt by the sender as it would be without the relay.
constexpr size_t kMaxPending = 256 * 1024;
// A popgate→upstream "line" longer than this is forwarded without waiting for its end.
constexpr size_t kMaxHeldLine = 64 * 1024;

void set_non_blocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

}  // namespace

struct FaultRelay::Connection {
  int popgate_fd = -1;
  int upstream_fd = -1;
  std::string to_popgate;
  std::string to_upstream;
  std::string command_line;  // an incomplete popgate→upstream line, held until its LF
  bool ending = false;       // one side is gone: flush what is pending, then close both
  bool killed = false;       // close both at once, dropping what is pending
  bool stalled = false;      // forward nothing more from the upstream

  // The fault under way after its command went through.
  std::optional<FaultPlan> plan;
  std::string tag;
  bool counting = false;  // AfterForwarding: bytes_left more upstream bytes, then the action
  uint64_t bytes_left = 0;
  bool watching = false;        // waiting for the tagged answer of `tag`
  bool replace_answer = false;  // ... to send NO, BAD or garbage in its place
  std::string answer_line;
  bool in_other_line = false;

  ~Connection() {
    if (popgate_fd >= 0) ::close(popgate_fd);
    if (upstream_fd >= 0) ::close(upstream_fd);
  }

  // The action, once its point in the conversation has been reached.
  void apply(FaultAction action) {
    switch (action) {
      case FaultAction::Close:
        ending = true;
        break;
      case FaultAction::Stall:
        stalled = true;
        break;
      case FaultAction::Garbage:
        to_popgate += plan->garbage;
        break;
      case FaultAction::AnswerNo:
      case FaultAction::AnswerBad:
        break;  // a rewrite of the tagged answer, done in feed_from_upstream
    }
  }

  void fire(const FaultPlan& fault, const std::string& line) {
    plan = fault;
    tag = line.substr(0, line.find(' '));
    const bool rewrite = fault.action == FaultAction::AnswerNo || fault.action == FaultAction::AnswerBad;
    if (fault.point == FaultPoint::BeforeForwarding) {
      switch (fault.action) {
        case FaultAction::Close:
          killed = true;
          break;
        case FaultAction::Stall:
          stalled = true;
          break;
        case FaultAction::AnswerNo:
        case FaultAction::AnswerBad:
        case FaultAction::Garbage:
          // The upstream gets a NOOP under the same tag instead, and its answer is replaced: so the
          // fake answer comes in its place after the answers to commands pipelined before it.
          to_upstream += tag + " NOOP\r\n";
          watching = true;
          replace_answer = true;
          break;
      }
      return;
    }
    to_upstream += line;
    if (fault.point == FaultPoint::AfterTaggedAnswer || rewrite) {
      watching = true;
      replace_answer = rewrite;
      return;
    }
    if (fault.upstream_bytes == 0) return apply(fault.action);
    counting = true;
    bytes_left = fault.upstream_bytes;
  }

  std::string answer_for(FaultAction action) const {
    return tag + (action == FaultAction::AnswerNo ? " NO [UNAVAILABLE]" : " BAD") +
           " injected by the fault relay\r\n";
  }

  void feed_from_popgate(std::string_view data, FaultRelay& relay) {
    command_line.append(data);
    for (size_t end; (end = command_line.find('\n')) != std::string::npos;) {
      std::string line = command_line.substr(0, end + 1);
      command_line.erase(0, end + 1);
      if (killed || ending) return;
      if (auto fault = relay.take_plan_if_matches(line)) {
        fire(*fault, line);
      } else {
        to_upstream += line;
      }
    }
    if (command_line.size() > kMaxHeldLine) {
      to_upstream += command_line;
      command_line.clear();
    }
  }

  void feed_from_upstream(std::string_view data) {
    while (!data.empty() && !ending && !killed && !stalled) {
      if (counting) {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(bytes_left, data.size()));
        to_popgate.append(data.substr(0, take));
        data.remove_prefix(take);
        bytes_left -= take;
        if (bytes_left == 0) {
          counting = false;
          apply(plan->action);
        }
        continue;
      }
      if (!watching) {
        to_popgate.append(data);
        return;
      }
      // Line by line until the tagged answer: a line that cannot start with "<tag> " passes at once.
      const size_t end = data.find('\n');
      const size_t take = end == std::string_view::npos ? data.size() : end + 1;
      const std::string_view piece = data.substr(0, take);
      data.remove_prefix(take);
      if (in_other_line) {
        to_popgate.append(piece);
        in_other_line = end == std::string_view::npos;
        continue;
      }
      answer_line.append(piece);
      const std::string prefix = tag + " ";
      const bool may_be_tagged = answer_line.size() < prefix.size()
                                     ? std::string_view(prefix).starts_with(answer_line)
                                     : answer_line.starts_with(prefix);
      const bool complete = end != std::string_view::npos;
      if (!may_be_tagged) {
        to_popgate += answer_line;
        answer_line.clear();
        in_other_line = !complete;
        continue;
      }
      if (!complete) continue;
      watching = false;
      if (replace_answer) {
        to_popgate += plan->action == FaultAction::Garbage ? plan->garbage : answer_for(plan->action);
      } else {
        to_popgate += answer_line;
        apply(plan->action);
      }
      answer_line.clear();
    }
  }
};

FaultRelay::FaultRelay(uint16_t upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("fault relay: ") + std::strerror(errno));
  }
  set_non_blocking(listen_fd_);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

FaultRelay::~FaultRelay() {
  (void)::write(stop_pipe_[1], "x", 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

std::string FaultRelay::upstream_url() const {
  return "imap://127.0.0.1:" + std::to_string(port_);
}

void FaultRelay::arm(FaultPlan plan) {
  std::lock_guard lock(mutex_);
  plan_ = std::move(plan);
}

RelayCounters FaultRelay::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

std::optional<FaultPlan> FaultRelay::take_plan_if_matches(std::string_view line) {
  std::lock_guard lock(mutex_);
  if (!plan_ || line.find(plan_->trigger) == std::string_view::npos) return std::nullopt;
  std::optional<FaultPlan> plan = std::move(plan_);
  plan_.reset();
  ++counters_.faults_fired;
  return plan;
}

void FaultRelay::run() {
  std::list<Connection> connections;
  // Writes what is pending on one side; false if that side is gone.
  auto flush = [this](int fd, std::string& pending, bool to_popgate) {
    while (!pending.empty()) {
      const ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n <= 0) return false;
      pending.erase(0, static_cast<size_t>(n));
      std::lock_guard lock(mutex_);
      (to_popgate ? counters_.bytes_to_popgate : counters_.bytes_to_upstream) += static_cast<uint64_t>(n);
    }
    return true;
  };
  // Reads once; false on EOF or error.
  auto receive = [](int fd, std::string& out) {
    char buffer[64 * 1024];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) return false;
    out.assign(buffer, static_cast<size_t>(n));
    return true;
  };

  for (;;) {
    std::vector<pollfd> fds = {{stop_pipe_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const Connection& c : connections) {
      const bool reading = !c.ending && !c.killed;
      short popgate_events = 0;
      short upstream_events = 0;
      if (reading && c.to_upstream.size() < kMaxPending) popgate_events |= POLLIN;
      if (!c.to_popgate.empty()) popgate_events |= POLLOUT;
      if (reading && !c.stalled && c.to_popgate.size() < kMaxPending) upstream_events |= POLLIN;
      if (!c.to_upstream.empty()) upstream_events |= POLLOUT;
      fds.push_back({c.popgate_fd, popgate_events, 0});
      fds.push_back({c.upstream_fd, upstream_events, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;
    size_t index = 2;
    for (Connection& c : connections) {
      const short popgate_revents = fds[index++].revents;
      const short upstream_revents = fds[index++].revents;
      std::string data;
      if (popgate_revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!receive(c.popgate_fd, data)) {
          c.ending = true;
        } else if (!data.empty()) {
          c.feed_from_popgate(data, *this);
        }
      }
      data.clear();
      if (upstream_revents & (POLLIN | POLLHUP | POLLERR)) {
        if (c.stalled) {
          // Not read while stalled; only a dead socket is noticed (no busy loop on its HUP).
          if (upstream_revents & (POLLHUP | POLLERR)) c.ending = true;
        } else if (!receive(c.upstream_fd, data)) {
          c.ending = true;
        } else if (!data.empty()) {
          c.feed_from_upstream(data);
        }
      }
      if (c.killed) continue;
      if (!flush(c.popgate_fd, c.to_popgate, true) || !flush(c.upstream_fd, c.to_upstream, false)) {
        c.killed = true;
      }
    }
    const size_t before = connections.size();
    connections.remove_if([](const Connection& c) {
      return c.killed || (c.ending && c.to_popgate.empty() && c.to_upstream.empty());
    });
    if (connections.size() != before) {
      std::lock_guard lock(mutex_);
      counters_.open = connections.size();
    }

    if (fds[1].revents & POLLIN) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) break;
        int upstream = -1;
        try {
          upstream = connect_loopback(upstream_port_);
        } catch (const std::exception&) {
          ::close(fd);
          continue;
        }
        set_non_blocking(fd);
        set_non_blocking(upstream);
        Connection& c = connections.emplace_back();
        c.popgate_fd = fd;
        c.upstream_fd = upstream;
        std::lock_guard lock(mutex_);
        ++counters_.accepted;
        counters_.open = connections.size();
      }
    }
  }
  connections.clear();
}

}  // namespace popgate::integration
