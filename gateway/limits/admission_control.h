// AdmissionControl: whether a new POP3 connection may start a session (total and per-address
// session limits, a per-address connection rate), sans clock: the caller passes now_ms.
//
// Per-address state lives in one bounded table. An attacker with many addresses cannot grow it
// without bound: at `max_tracked_addresses` entries, idle ones (no live session, rate bucket
// full again) are swept; if every entry still has a live session the connection is refused as
// max_sessions. IPv6 clients are keyed on their /64 (one subscriber's allocation, RFC 6177):
// keying on the whole address would let one host take 2^64 slots.
//
// Thread-safe: one instance serves every worker loop, so the limits hold for the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace popgate {

struct AdmissionLimits {
  uint64_t max_sessions = 10'000;           // 0: unlimited
  uint64_t max_sessions_per_address = 256;  // 0: unlimited
  // Token bucket per address: `rate` connections a second on average, bursts of up to `rate`
  // at once. 0: off.
  uint64_t max_connection_rate = 0;
};

enum class Refusal { None, MaxSessions, MaxSessionsPerAddress, ConnectionRate };
// The metric label and log value: "max_sessions", "max_sessions_per_ip", "connection_rate".
const char* to_string(Refusal refusal);

// "192.0.2.7" for IPv4 (and IPv4-mapped IPv6), "2001:db8:0:1::/64" for IPv6. Anything that does not
// parse is its own key (a Unix socket, a test's name).
std::string client_address_key(std::string_view numeric_address);

class AdmissionControl {
 public:
  explicit AdmissionControl(size_t max_tracked_addresses = 65'536)
      : max_tracked_addresses_(max_tracked_addresses) {}
  AdmissionControl(const AdmissionControl&) = delete;
  AdmissionControl& operator=(const AdmissionControl&) = delete;

  // Counts a session for `key` (from client_address_key) when admitted; the caller then owes a
  // release(key) when the session is over. A refused connection costs nothing but its token.
  Refusal admit(const std::string& key, uint64_t now_ms, const AdmissionLimits& limits);
  void release(const std::string& key);

  uint64_t sessions() const;
  size_t tracked_addresses() const;

 private:
  struct Address {
    uint64_t sessions = 0;
    // Rate bucket in thousandths of a connection, refilled at `rate` per millisecond.
    uint64_t milli_tokens = 0;
    uint64_t refilled_ms = 0;
    uint64_t rate = 0;  // the rate the bucket was last filled at; 0: no bucket
  };
  static void refill(Address& address, uint64_t now_ms, uint64_t rate);
  static bool idle(const Address& address, uint64_t now_ms);
  // Makes room for one more entry; false if every entry has a live session.
  bool make_room(uint64_t now_ms);

  const size_t max_tracked_addresses_;
  mutable std::mutex mutex_;  // guards the two below; held for one short table operation
  uint64_t sessions_ = 0;
  std::unordered_map<std::string, Address> addresses_;
};

// One admitted session's place in an AdmissionControl, given back when it is destroyed.
class AdmittedSession {
 public:
  AdmittedSession(AdmissionControl& control, std::string key) : control_(&control), key_(std::move(key)) {}
  ~AdmittedSession() {
    if (control_ != nullptr) control_->release(key_);
  }
  AdmittedSession(AdmittedSession&& other) noexcept
      : control_(std::exchange(other.control_, nullptr)), key_(std::move(other.key_)) {}
  AdmittedSession& operator=(AdmittedSession&&) = delete;
  AdmittedSession(const AdmittedSession&) = delete;
  AdmittedSession& operator=(const AdmittedSession&) = delete;

 private:
  AdmissionControl* control_;
  std::string key_;
};

// At most one log line a second per kind of event, so a flood cannot flood the log: the next
// line says how many were left out.
class LogThrottle {
 public:
  // True when a line may be written now; `suppressed` is then how many were skipped before it.
  bool allow(uint64_t now_ms, uint64_t& suppressed);

 private:
  uint64_t last_ms_ = 0;
  bool logged_ = false;
  uint64_t suppressed_ = 0;
};

}  // namespace popgate
