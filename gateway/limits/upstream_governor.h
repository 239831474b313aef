// UpstreamGovernor: per upstream identity, remembers that the upstream throttled it (and answers
// its logins itself for a while) and caps how many upstream sessions it has open at once.
//
// An identity is what logs in upstream: a route's upstream user, or a local-accounts identity
// that many devices share (identity_key). Never a password. Sans clock: the caller passes now_ms.
// One instance may be shared by several event loops: a mutex guards the table, and a Slot may be
// released on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "protocol/common/result.h"

namespace popgate {

struct UpstreamGovernorSettings {
  // Upstream sessions open at once per identity; 0: no cap.
  uint64_t max_sessions_per_identity = 8;
  // The backoff after a throttling answer that names no wait: base, doubling with each throttling
  // answer in a row (reset by a successful login) up to max. base 0: no backoff at all.
  uint64_t backoff_base_ms = 5'000;
  uint64_t backoff_max_ms = 300'000;
};

// What a login asks about the upstream identity it goes up as (gateway/session/login_flow.h): may
// it go now, and what did the upstream answer. UpstreamGovernor below keeps the identities of this
// process; NoIdentityGovernor neither backs off nor caps.
class IdentityGovernor {
 public:
  // Holds one of an identity's upstream sessions while it lives (like a GaugeToken): the thing
  // that is the upstream session (the Mailbox) goes with it, so the count cannot drift.
  class Slot {
   public:
    Slot() = default;
    // `release` gives the place back, once, on whichever thread the slot goes.
    explicit Slot(std::function<void()> release) : release_(std::move(release)) {}
    ~Slot() { release(); }
    Slot(Slot&& other) noexcept : release_(std::exchange(other.release_, nullptr)) {}
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        release();
        release_ = std::exchange(other.release_, nullptr);
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

    void release() {
      if (std::function<void()> release = std::exchange(release_, nullptr)) release();
    }
    explicit operator bool() const { return release_ != nullptr; }

   private:
    std::function<void()> release_;
  };

  enum class Verdict {
    Admitted,    // go upstream, holding the slot
    BackingOff,  // the upstream throttled this identity recently: -ERR [LOGIN-DELAY]
    Capped,      // max_sessions_per_identity upstream sessions are open: -ERR [SYS/TEMP]
  };
  struct Admission {
    Verdict verdict = Verdict::Admitted;
    uint64_t wait_ms = 0;  // BackingOff: how much of the backoff is left
    Slot slot;             // Admitted only (it may hold nothing)
  };

  virtual ~IdentityGovernor() = default;

  // Before logging in upstream as `identity`.
  virtual Admission admit(const std::string& identity, uint64_t now_ms,
                          const UpstreamGovernorSettings& settings) = 0;
  // The upstream answered with a throttling answer. `retry_after_ms` is what it asked for (0: it
  // did not say). Returns the backoff now in force (0: none).
  virtual uint64_t record_throttled(const std::string& identity, uint64_t retry_after_ms, uint64_t now_ms,
                                    const UpstreamGovernorSettings& settings) = 0;
  // A successful upstream login: the next throttling answer starts again from the base.
  virtual void record_success(const std::string& identity) = 0;
};

// Every login is admitted (with a slot that counts nowhere) and no throttling answer backs anyone off.
class NoIdentityGovernor final : public IdentityGovernor {
 public:
  Admission admit(const std::string&, uint64_t, const UpstreamGovernorSettings&) override { return {}; }
  uint64_t record_throttled(const std::string&, uint64_t, uint64_t,
                            const UpstreamGovernorSettings&) override {
    return 0;
  }
  void record_success(const std::string&) override {}
};

// The identities' state that replicas share (gateway/state/redis_identity_governor.h): a backoff one
// replica learnt holds for all of them, and the session cap counts every replica's sessions. The
// replica's own IdentityGovernor still decides first, and alone how long a backoff is.
class SharedIdentityGovernor {
 public:
  // An admission in flight; destroying it cancels: the callback never runs (and a place the store
  // granted meanwhile is given back).
  class PendingAdmission {
   public:
    virtual ~PendingAdmission() = default;
  };
  using PendingAdmissionPtr = std::unique_ptr<PendingAdmission>;
  // The verdict, with a Slot holding the identity's place across replicas when admitted; an Error
  // (Temporary) when the store cannot say and must not be guessed (--state-store-failure closed).
  using Admitted = std::function<void(Result<IdentityGovernor::Admission>)>;

  virtual ~SharedIdentityGovernor() = default;
  // `done` runs once, later, never inside the call.
  virtual PendingAdmissionPtr admit(const std::string& identity, const UpstreamGovernorSettings& settings,
                                    Admitted done) = 0;
  // The replica's own governor put a backoff of `backoff_ms` in force for `identity` (0: none).
  virtual void record_backoff(const std::string& identity, uint64_t backoff_ms) = 0;
};

class UpstreamGovernor final : public IdentityGovernor {
 public:
  explicit UpstreamGovernor(size_t max_tracked_identities = 65'536);
  UpstreamGovernor(const UpstreamGovernor&) = delete;
  UpstreamGovernor& operator=(const UpstreamGovernor&) = delete;

  Admission admit(const std::string& identity, uint64_t now_ms,
                  const UpstreamGovernorSettings& settings) override;
  // 0 when backoff is off. An answer that arrives while a backoff runs (a login that started
  // before it) does not make it longer or steeper.
  uint64_t record_throttled(const std::string& identity, uint64_t retry_after_ms, uint64_t now_ms,
                            const UpstreamGovernorSettings& settings) override;
  void record_success(const std::string& identity) override;

  size_t tracked_identities() const;
  uint64_t open_sessions(const std::string& identity) const;

  // The key of an upstream identity: a local-accounts identity by its name (all its devices
  // share it); otherwise the route and the upstream user without case. A login's route decides
  // its upstream, so route and user name the upstream account.
  static std::string identity_key(std::string_view route, std::string_view upstream_user,
                                  std::string_view local_identity);

 private:
  struct State;
  // One of `identity`'s places in the table (an empty identity: admitted uncounted). The slot keeps
  // the table alive, so one released after the governor is gone still finds it.
  static Slot hold(std::shared_ptr<State> state, std::string identity);

  std::shared_ptr<State> state_;
};

}  // namespace popgate
