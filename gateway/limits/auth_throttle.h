// AuthThrottle: failed logins counted per client address and per user name, turned into a growing
// delay before `-ERR [AUTH]` and, past a threshold, `-ERR [LOGIN-DELAY]` without asking the
// upstream. Sans clock: the caller passes now_ms.
//
// Popgate cannot tell an unknown user from a wrong password (the upstream answers both with the
// same NO), and this class does not try: a name is counted whether it exists or not, so the delay
// and the lock-out are the same for both.
//
// Thread-safe: one instance serves every worker loop, so the counts hold for the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/common/result.h"

namespace popgate {

struct AuthThrottleSettings {
  uint64_t window_ms = 300'000;             // failures older than this (from the first) are forgotten
  uint64_t max_failures_per_user = 10;      // then [LOGIN-DELAY] for that user; 0: never
  uint64_t max_failures_per_address = 100;  // then [LOGIN-DELAY] from that address; 0: never
  uint64_t base_delay_ms = 2'000;           // before the first -ERR [AUTH]; doubles with each failure
  uint64_t max_delay_ms = 30'000;           // the delay's cap
};

// What a login asks about failed logins (gateway/session/login_flow.h). AuthThrottle below counts
// them in this process; NoLoginThrottle counts nothing.
class LoginThrottle {
 public:
  virtual ~LoginThrottle() = default;

  // Before asking the upstream: true if `address` or `user` is over its threshold in the window.
  virtual bool locked_out(const std::string& address, std::string_view user, uint64_t now_ms,
                          const AuthThrottleSettings& settings) = 0;
  // An [AUTH] failure: counts it and returns the delay before answering.
  virtual uint64_t record_failure(const std::string& address, std::string_view user, uint64_t now_ms,
                                  const AuthThrottleSettings& settings) = 0;
  // A successful login of `user`.
  virtual void record_success(std::string_view user) = 0;
};

// No accounting: nobody is locked out and every failure waits the base delay (--auth-failure-delay).
class NoLoginThrottle final : public LoginThrottle {
 public:
  bool locked_out(const std::string&, std::string_view, uint64_t, const AuthThrottleSettings&) override {
    return false;
  }
  uint64_t record_failure(const std::string&, std::string_view, uint64_t,
                          const AuthThrottleSettings& settings) override {
    return settings.base_delay_ms;
  }
  void record_success(std::string_view) override {}
};

// The failures other replicas counted (gateway/state/redis_login_failures.h): with a shared store
// a name or an address is locked out on every replica once the failures on all of them reach the
// thresholds. The replica's own LoginThrottle still decides the delay before each answer.
class SharedLoginFailures {
 public:
  // A check in flight; destroying it cancels: the callback never runs.
  class PendingCheck {
   public:
    virtual ~PendingCheck() = default;
  };
  using PendingCheckPtr = std::unique_ptr<PendingCheck>;
  // Locked out or not; an Error (Temporary) when the store cannot say and must not be guessed
  // (--state-store-failure closed).
  using Checked = std::function<void(Result<bool>)>;

  virtual ~SharedLoginFailures() = default;
  // `done` runs once, later, never inside the call.
  virtual PendingCheckPtr check(const std::string& address, std::string_view user,
                                const AuthThrottleSettings& settings, Checked done) = 0;
  // Counted in the background: a store that is slow or gone does not hold the answer back.
  virtual void record_failure(const std::string& address, std::string_view user,
                              const AuthThrottleSettings& settings) = 0;
  virtual void record_success(std::string_view user) = 0;
};

class AuthThrottle final : public LoginThrottle {
 public:
  explicit AuthThrottle(size_t max_tracked_keys = 65'536) : max_tracked_keys_(max_tracked_keys) {}
  AuthThrottle(const AuthThrottle&) = delete;
  AuthThrottle& operator=(const AuthThrottle&) = delete;

  bool locked_out(const std::string& address, std::string_view user, uint64_t now_ms,
                  const AuthThrottleSettings& settings) override;
  // Counts it for both and returns base × 2^(n-1) capped, n the larger of the two counts.
  uint64_t record_failure(const std::string& address, std::string_view user, uint64_t now_ms,
                          const AuthThrottleSettings& settings) override;
  // Forgets the user's failures (not the address's: one valid account must not let its owner go
  // on guessing others' passwords).
  void record_success(std::string_view user) override;

  size_t tracked_keys() const;

  // User names compare case-insensitively (ASCII), as mail systems treat them.
  static std::string user_key(std::string_view user);

 private:
  struct Failures {
    uint64_t count = 0;
    uint64_t window_started_ms = 0;
  };
  using Table = std::unordered_map<std::string, Failures>;

  // The failures of `key` still inside the window (0 when there are none).
  static uint64_t current(const Table& table, const std::string& key, uint64_t now_ms, uint64_t window_ms);
  uint64_t add(Table& table, const std::string& key, uint64_t now_ms, uint64_t window_ms);

  const size_t max_tracked_keys_;  // per table
  mutable std::mutex mutex_;       // guards both tables; held for one short table operation
  Table addresses_;
  Table users_;
};

}  // namespace popgate
