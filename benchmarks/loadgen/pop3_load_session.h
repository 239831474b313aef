// One POP3 client connection driven by readiness events: connect, greeting, USER, PASS, then either
// STAT, UIDL, RETR of every message and QUIT (loop mode) or nothing more (idle mode). Pipelining
// off: one command in flight. RETR bodies are counted and dropped, never stored.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>

#include "benchmarks/loadgen/latency_histogram.h"
#include "benchmarks/loadgen/pop3_body_scanner.h"

namespace popgate::bench {

// The timed steps, one histogram each. Connect runs from connect() to the end of the greeting.
enum class Step { Connect, User, Pass, Stat, List, Uidl, Retr, Quit, Count };
const char* step_name(Step step);

struct LoadStats {
  std::array<LatencyHistogram, static_cast<size_t>(Step::Count)> latency;
  LatencyHistogram session;  // whole loop-mode session, connect to QUIT reply
  uint64_t messages = 0;
  uint64_t bytes = 0;  // every byte read from the server
};

// What one session does after connecting.
struct SessionPlan {
  bool hold_after_login = false;  // idle mode: stop after PASS
  bool quit_after_stat = false;   // login mode: no UIDL/RETR
  // Snapshot mode (> 0): that many STAT, LIST, UIDL rounds and no RETR, each round started
  // `think_ns` (jittered ±50%) after the last one ended.
  uint32_t snapshot_rounds = 0;
  uint64_t think_ns = 0;
  // Snapshot mode without a think time: rounds sent this many at a time (RFC 2449 pipelining).
  // Each reply's latency then counts from the previous reply (the first from the send).
  uint32_t pipeline = 1;
  // Set by the driver once the run's duration has passed: snapshot sessions then QUIT instead of
  // starting another round (or batch of rounds).
  const bool* run_over = nullptr;
};

class Pop3LoadSession {
 public:
  enum class Outcome { Pending, LoggedIn, Finished, Failed };

  Pop3LoadSession(LoadStats& stats, const SessionPlan& plan)
      : stats_(stats), plan_(plan), snapshot_rounds_left_(plan.snapshot_rounds) {}
  ~Pop3LoadSession();
  Pop3LoadSession(const Pop3LoadSession&) = delete;
  Pop3LoadSession& operator=(const Pop3LoadSession&) = delete;

  // Starts a non-blocking connect; the caller registers fd() for EPOLLOUT|EPOLLIN.
  // `source`: the local address to connect from (INADDR_ANY: the kernel's choice).
  bool start(const sockaddr_in& address, std::string user, const std::string& password, in_addr source = {});
  int fd() const { return fd_; }
  // Handles readiness; LoggedIn is returned once (idle mode), Finished/Failed once at the end.
  Outcome on_ready(uint32_t epoll_events);
  // Idle mode: logged in and holding.
  bool holding() const { return holding_; }
  // Snapshot mode with a think time: when the next round is due (0: none waiting), and sending it.
  uint64_t due_ns() const { return due_ns_; }
  Outcome send_due();
  const std::string& failure() const { return failure_; }
  void close_connection();

 private:
  Outcome fail(std::string why);
  Outcome send_command(Step step, std::string line);
  Outcome flush();
  Outcome feed(const char* data, size_t size);
  Outcome on_status_line(std::string_view line);
  Outcome on_response_complete();
  Outcome next_retr_or_quit();
  Outcome send_snapshot_batch();
  Outcome on_batch_reply(uint64_t now);
  bool run_over() const { return plan_.run_over != nullptr && *plan_.run_over; }
  uint64_t jittered_think_ns();

  LoadStats& stats_;
  SessionPlan plan_;
  uint32_t snapshot_rounds_left_;
  uint32_t batch_replies_left_ = 0;  // pipelined snapshot replies still to come
  uint64_t due_ns_ = 0;
  // xorshift64 state; a different fixed seed per session keeps runs repeatable.
  uint64_t jitter_state_ = 0x9E3779B97F4A7C15ULL * ++sessions_created_;
  static inline uint64_t sessions_created_ = 0;
  int fd_ = -1;
  bool connecting_ = false;
  bool holding_ = false;
  Step step_ = Step::Connect;
  uint64_t step_started_ns_ = 0;
  uint64_t session_started_ns_ = 0;
  std::string user_;
  std::string password_;
  std::string out_;
  std::string line_;
  bool in_body_ = false;
  Pop3BodyScanner body_;
  uint32_t message_count_ = 0;
  uint32_t next_message_ = 1;
  std::string failure_;
};

uint64_t monotonic_ns();

}  // namespace popgate::bench
