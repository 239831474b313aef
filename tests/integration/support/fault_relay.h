// A fault-injecting TCP relay on 127.0.0.1 (port 0) between popgate and a real IMAP server: it
// forwards bytes both ways on its own thread and, when armed, breaks one connection at a chosen point
// of the conversation (close, stall, a NO/BAD answer, garbage) — faults a real Dovecot never makes on
// its own, produced against the real server's real state.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace popgate::integration {

enum class FaultAction {
  Close,      // close both sides at once
  Stall,      // stop forwarding anything from the upstream (popgate's side stays open)
  AnswerNo,   // the command's tagged answer is "NO" (BeforeForwarding: the upstream never sees it)
  AnswerBad,  // the same with "BAD"
  Garbage,    // FaultPlan::garbage goes to popgate (BeforeForwarding: instead of the answer)
};

enum class FaultPoint {
  // The matching command does not reach the upstream; the action happens instead (NO, BAD or
  // garbage arrive where the command's answer would have).
  BeforeForwarding,
  // The command is forwarded; after FaultPlan::upstream_bytes more bytes from the upstream have
  // passed to popgate the action happens (NO/BAD: the upstream's tagged answer is rewritten).
  AfterForwarding,
  // The command is forwarded and so is the upstream's whole tagged answer to it; then the action.
  AfterTaggedAnswer,
};

struct FaultPlan {
  // A substring of one popgate→upstream command line ("SELECT", "UID EXPUNGE", "BODY.PEEK[]").
  std::string trigger;
  FaultAction action = FaultAction::Close;
  FaultPoint point = FaultPoint::BeforeForwarding;
  uint64_t upstream_bytes = 0;  // AfterForwarding with Close/Stall/Garbage only
  std::string garbage = "* 1 FETCH (UID \x01\x7f{18446744073709551616}\r\n)))) ((( \"\r\n";
};

struct RelayCounters {
  uint64_t accepted = 0;           // connections popgate opened through the relay
  uint64_t open = 0;               // of them still open on either side
  uint64_t bytes_to_popgate = 0;   // upstream→popgate bytes forwarded, all connections
  uint64_t bytes_to_upstream = 0;  // popgate→upstream bytes forwarded
  uint64_t faults_fired = 0;
};

class FaultRelay {
 public:
  // Listens at once on 127.0.0.1 port 0 and forwards every connection to 127.0.0.1:upstream_port.
  explicit FaultRelay(uint16_t upstream_port);
  ~FaultRelay();
  FaultRelay(const FaultRelay&) = delete;
  FaultRelay& operator=(const FaultRelay&) = delete;

  uint16_t port() const { return port_; }
  // "imap://127.0.0.1:<port>", for popgate's --upstream.
  std::string upstream_url() const;

  // Arms one fault: the first command line (on any connection, from now on) that contains
  // plan.trigger fires it, once. Replaces a plan that has not fired yet.
  void arm(FaultPlan plan);
  RelayCounters counters() const;

 private:
  struct Connection;
  void run();
  std::optional<FaultPlan> take_plan_if_matches(std::string_view line);

  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  uint16_t upstream_port_ = 0;
  mutable std::mutex mutex_;
  std::optional<FaultPlan> plan_;  // guarded by mutex_
  RelayCounters counters_;         // guarded by mutex_
  std::thread thread_;
};

}  // namespace popgate::integration
