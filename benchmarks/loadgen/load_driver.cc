// Runs the sessions of loop and idle modes on one epoll instance and summarises them as JSON.
#include "benchmarks/loadgen/load_driver.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "benchmarks/loadgen/pop3_load_session.h"

namespace popgate::bench {
namespace {

volatile std::sig_atomic_t g_stop_requested = 0;
void request_stop(int) {
  g_stop_requested = 1;
}

double seconds_between(uint64_t from_ns, uint64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e9;
}

double cpu_seconds_of_self() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

sockaddr_in address_of(const LoadOptions& options) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  if (::inet_pton(AF_INET, options.host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error("--host must be a numeric IPv4 address");
  }
  return address;
}

// The epoll instance and the sessions it watches, indexed by slot.
class SessionLoop {
 public:
  SessionLoop(const LoadOptions& options, bool hold)
      : options_(options),
        hold_(hold),
        address_(address_of(options)),
        epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    for (uint32_t i = 0; i < options.users; ++i) free_users_.push_back(options.user_first + i);
    std::signal(SIGTERM, request_stop);
    std::signal(SIGINT, request_stop);
  }
  ~SessionLoop() { ::close(epoll_fd_); }

  // Starts a session in `slot` with the least recently used free user; false if it could not start.
  bool start(size_t slot) {
    if (slot >= sessions_.size()) sessions_.resize(slot + 1);
    SessionPlan plan;
    plan.hold_after_login = hold_;
    plan.quit_after_stat = options_.mode == Mode::Login;
    plan.snapshot_rounds = options_.mode == Mode::Snapshot ? std::max<uint32_t>(options_.rounds, 1) : 0;
    plan.think_ns = static_cast<uint64_t>(options_.think_ms * 1e6);
    plan.pipeline = plan.think_ns == 0 ? std::max<uint32_t>(options_.pipeline, 1) : 1;
    plan.run_over = &run_over_;
    sessions_[slot] = std::make_unique<Pop3LoadSession>(stats_, plan);
    const uint32_t user = free_users_.front();
    free_users_.pop_front();
    slot_user_.resize(sessions_.size());
    slot_user_[slot] = user;
    Pop3LoadSession& s = *sessions_[slot];
    in_addr source{};
    if (options_.sources > 1) source.s_addr = htonl(INADDR_LOOPBACK + started_ % options_.sources);
    if (!s.start(address_, options_.user_prefix + std::to_string(user), options_.password, source)) {
      record_failure(s.failure());
      release(slot);
      return false;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    event.data.u64 = slot;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.fd(), &event);
    ++started_;
    return true;
  }

  // Waits up to `timeout_ms` and dispatches; `on_outcome(slot, outcome, was_holding)` for every
  // non-pending one (`was_holding`: an idle session that had logged in ended).
  template <typename Callback>
  void poll(int timeout_ms, Callback&& on_outcome) {
    epoll_event events[512];
    // Snapshot rounds waiting for their think time: wake up when the first is due, to the
    // microsecond. Rounding up to a millisecond (epoll_wait) would release every round due within
    // that millisecond in one burst, and the burst's queueing would show up as server latency.
    const uint64_t next_due = earliest_due_ns();
    timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
    if (next_due != 0) {
      const uint64_t now = monotonic_ns();
      const uint64_t wait_ns =
          next_due <= now ? 0 : std::min<uint64_t>(next_due - now, timeout_ms * 1'000'000ULL);
      timeout = {static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
    }
    const int n = ::epoll_pwait2(epoll_fd_, events, 512, &timeout, nullptr);
    auto dispatch = [&](size_t slot, Pop3LoadSession::Outcome outcome) {
      if (outcome == Pop3LoadSession::Outcome::Pending) return;
      const bool was_holding = outcome != Pop3LoadSession::Outcome::LoggedIn && sessions_[slot]->holding();
      if (outcome == Pop3LoadSession::Outcome::Failed) record_failure(sessions_[slot]->failure());
      if (outcome == Pop3LoadSession::Outcome::Finished) ++finished_;
      if (outcome != Pop3LoadSession::Outcome::LoggedIn) release(slot);
      on_outcome(slot, outcome, was_holding);
    };
    for (int i = 0; i < n; ++i) {
      const size_t slot = events[i].data.u64;
      if (slot >= sessions_.size() || !sessions_[slot]) continue;
      dispatch(slot, sessions_[slot]->on_ready(events[i].events));
    }
    if (next_due == 0) return;
    const uint64_t now = monotonic_ns();
    for (size_t slot = 0; slot < sessions_.size(); ++slot) {
      if (sessions_[slot] && sessions_[slot]->due_ns() != 0 && sessions_[slot]->due_ns() <= now) {
        dispatch(slot, sessions_[slot]->send_due());
      }
    }
  }

  uint64_t earliest_due_ns() const {
    uint64_t earliest = 0;
    for (const auto& session : sessions_) {
      if (session && session->due_ns() != 0 && (earliest == 0 || session->due_ns() < earliest))
        earliest = session->due_ns();
    }
    return earliest;
  }

  void release(size_t slot) {
    if (!sessions_[slot]) return;
    sessions_[slot].reset();  // closes the socket, which leaves the epoll set
    free_users_.push_back(slot_user_[slot]);
  }

  void close_all() {
    for (size_t slot = 0; slot < sessions_.size(); ++slot) release(slot);
  }

  void record_failure(const std::string& why) {
    ++failed_;
    if (failures_.size() < 20 || failures_.count(why)) ++failures_[why];
  }

  LoadStats& stats() { return stats_; }
  // Past the run's duration: snapshot sessions QUIT instead of starting another round.
  void set_run_over() { run_over_ = true; }
  uint64_t started() const { return started_; }
  uint64_t finished() const { return finished_; }
  uint64_t failed() const { return failed_; }
  const std::map<std::string, uint64_t>& failures() const { return failures_; }

 private:
  const LoadOptions& options_;
  bool hold_;
  sockaddr_in address_;
  int epoll_fd_;
  std::vector<std::unique_ptr<Pop3LoadSession>> sessions_;
  std::vector<uint32_t> slot_user_;
  std::deque<uint32_t> free_users_;
  LoadStats stats_;
  bool run_over_ = false;
  uint64_t started_ = 0;
  uint64_t finished_ = 0;
  uint64_t failed_ = 0;
  std::map<std::string, uint64_t> failures_;
};

nlohmann::json latency_json(const LatencyHistogram& h) {
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  return {{"count", h.count()},
          {"mean_us", h.mean() / 1e3},
          {"p50_us", us(h.quantile(0.50))},
          {"p99_us", us(h.quantile(0.99))},
          {"p999_us", us(h.quantile(0.999))},
          {"max_us", us(h.max())}};
}

nlohmann::json summary(SessionLoop& loop, double elapsed, const LoadOptions& options, const char* mode) {
  const LoadStats& stats = loop.stats();
  nlohmann::json latency = nlohmann::json::object();
  for (size_t i = 0; i < stats.latency.size(); ++i) {
    if (stats.latency[i].count() > 0)
      latency[step_name(static_cast<Step>(i))] = latency_json(stats.latency[i]);
  }
  if (stats.session.count() > 0) latency["session"] = latency_json(stats.session);
  nlohmann::json failures = nlohmann::json::object();
  for (const auto& [why, count] : loop.failures()) failures[why] = count;
  const double per_second = elapsed > 0 ? 1.0 / elapsed : 0.0;
  return {{"mode", mode},
          {"concurrency", options.concurrency},
          {"elapsed_s", elapsed},
          {"sessions_started", loop.started()},
          {"sessions_ok", loop.finished()},
          {"sessions_failed", loop.failed()},
          {"messages", stats.messages},
          {"bytes", stats.bytes},
          {"sessions_per_s", static_cast<double>(loop.finished()) * per_second},
          {"messages_per_s", static_cast<double>(stats.messages) * per_second},
          {"mb_per_s", static_cast<double>(stats.bytes) * per_second / 1e6},
          {"loadgen_cpu_s", cpu_seconds_of_self()},
          {"latency", latency},
          {"failures", failures}};
}

}  // namespace

nlohmann::json run_loop_mode(const LoadOptions& options) {
  SessionLoop loop(options, /*hold=*/false);
  const uint64_t begin = monotonic_ns();
  const uint64_t stop_starting = begin + static_cast<uint64_t>(options.duration_seconds * 1e9);
  const uint64_t give_up = begin + static_cast<uint64_t>(options.timeout_seconds * 1e9);
  size_t active = 0;
  auto may_start = [&] {
    if (g_stop_requested || monotonic_ns() >= stop_starting) return false;
    return options.max_sessions == 0 || loop.started() < options.max_sessions;
  };
  for (size_t slot = 0; slot < options.concurrency && may_start(); ++slot) {
    if (loop.start(slot)) ++active;
  }
  // A slot whose start failed (e.g. connect refused) is retried on the next tick.
  std::vector<size_t> idle_slots;
  for (size_t slot = active; slot < options.concurrency; ++slot) idle_slots.push_back(slot);
  while ((active > 0 || (!idle_slots.empty() && may_start())) && monotonic_ns() < give_up) {
    loop.poll(50, [&](size_t slot, Pop3LoadSession::Outcome, bool) {
      --active;
      if (may_start() && loop.start(slot)) {
        ++active;
      } else {
        idle_slots.push_back(slot);
      }
    });
    if (g_stop_requested || monotonic_ns() >= stop_starting) loop.set_run_over();
    while (!idle_slots.empty() && may_start() && loop.start(idle_slots.back())) {
      idle_slots.pop_back();
      ++active;
    }
    if (active == 0 && !may_start()) break;
  }
  const double elapsed = seconds_between(begin, monotonic_ns());
  loop.close_all();
  const char* mode = options.mode == Mode::Login      ? "login"
                     : options.mode == Mode::Snapshot ? "snapshot"
                                                      : "loop";
  return summary(loop, elapsed, options, mode);
}

nlohmann::json run_idle_mode(const LoadOptions& options) {
  SessionLoop loop(options, /*hold=*/true);
  const uint64_t begin = monotonic_ns();
  const uint64_t give_up = begin + static_cast<uint64_t>(options.timeout_seconds * 1e9);
  size_t next_slot = 0;
  size_t in_flight = 0;
  size_t logged_in = 0;
  size_t dropped = 0;
  auto top_up = [&] {
    while (in_flight < options.concurrency && next_slot < options.idle_sessions) {
      if (loop.start(next_slot)) ++in_flight;
      ++next_slot;
    }
  };
  top_up();
  while ((in_flight > 0 || next_slot < options.idle_sessions) && !g_stop_requested &&
         monotonic_ns() < give_up) {
    loop.poll(50, [&](size_t, Pop3LoadSession::Outcome outcome, bool was_holding) {
      if (outcome == Pop3LoadSession::Outcome::LoggedIn) {
        ++logged_in;
        --in_flight;
      } else if (was_holding) {
        --logged_in;  // a logged-in session was dropped while others were still logging in
      } else {
        --in_flight;  // a login failed: its place goes to the next session
      }
    });
    top_up();
  }
  const double login_elapsed = seconds_between(begin, monotonic_ns());
  std::printf("all_logged_in %zu\n", logged_in);
  std::fflush(stdout);
  const uint64_t hold_until = monotonic_ns() + static_cast<uint64_t>(options.hold_seconds * 1e9);
  const uint64_t failed_before_hold = loop.failed();
  while (!g_stop_requested && monotonic_ns() < hold_until) {
    loop.poll(100, [&](size_t, Pop3LoadSession::Outcome, bool) {});
  }
  dropped = loop.failed() - failed_before_hold;
  loop.close_all();
  nlohmann::json report = summary(loop, login_elapsed, options, "idle");
  report["logged_in"] = logged_in;
  report["dropped_while_holding"] = dropped;
  return report;
}

}  // namespace popgate::bench
