// SessionContext: what every POP3 session of one service shares.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "gateway/admin/metrics.h"
#include "gateway/config/config.h"
#include "gateway/config/tls_certificates.h"
#include "gateway/identity/login_router.h"
#include "gateway/io/loop.h"
#include "gateway/limits/auth_throttle.h"
#include "gateway/limits/maildrop_lock.h"
#include "gateway/limits/upstream_governor.h"

namespace popgate {

// What the limits keep in a store replicas share (gateway/state/); null: this process only.
struct SharedLimits {
  SharedLoginFailures* login_failures = nullptr;        // failed logins counted on every replica
  SharedIdentityGovernor* identity_governor = nullptr;  // upstream backoff and session cap across replicas
};

// Every collaborator is real: where a service (or a test) wants none of a limit, it passes the
// limit's no-op implementation (NoLoginThrottle, NoIdentityGovernor, make_passthrough_router).
struct SessionContext {
  io::Loop& loop;
  std::shared_ptr<const Config> config;
  // Where each login goes and as whom: routing rules and local accounts, or every login to one
  // upstream (make_passthrough_router).
  LoginRouter& router;
  // RFC 1939 §8's exclusive access: this process's table, or a lease shared by replicas.
  MaildropLockTable& locks;
  const TlsCertificates* certificates;  // null without --tls-cert: no STLS, no implicit TLS
  // Called once when the session is over; the owner destroys it on a later tick.
  std::function<void(uint64_t session_id)> on_finished;
  // The process's metrics. They outlive the loop: work it drops at its end may hold gauge tokens.
  Metrics& metrics;
  // Failed-login accounting shared by the service's sessions (AuthThrottle), or NoLoginThrottle:
  // no throttling beyond the fixed --auth-failure-delay.
  LoginThrottle& auth_throttle;
  // Per-identity upstream backoff and session cap (UpstreamGovernor), or NoIdentityGovernor.
  IdentityGovernor& upstream_governor;
  // The same limits across replicas (a shared state store); none: this process's alone.
  SharedLimits shared = {};
};

}  // namespace popgate
