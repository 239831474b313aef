// Metrics: every Prometheus metric popgate exports, resolved once and shared by the process.
//
// One Metrics per process, passed by reference. Every label child is created in the
// constructor (or once per mailbox, for an adapter), so an event costs an atomic add or a
// histogram observation and never builds a label map. Thread-safe as prometheus-cpp is.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "gateway/admin/state_store_metrics.h"
#include "gateway/limits/admission_control.h"
#include "protocol/common/error.h"

namespace popgate {

// Holds a gauge one higher while it lives. The thing a gauge counts owns the token, so the
// gauge goes down when that thing is destroyed, whatever path it took, and cannot drift.
class GaugeToken {
 public:
  GaugeToken() = default;
  explicit GaugeToken(prometheus::Gauge& gauge) : gauge_(&gauge) { gauge_->Increment(); }
  ~GaugeToken() { reset(); }
  GaugeToken(GaugeToken&& other) noexcept : gauge_(std::exchange(other.gauge_, nullptr)) {}
  GaugeToken& operator=(GaugeToken&& other) noexcept {
    if (this != &other) {
      reset();
      gauge_ = std::exchange(other.gauge_, nullptr);
    }
    return *this;
  }
  GaugeToken(const GaugeToken&) = delete;
  GaugeToken& operator=(const GaugeToken&) = delete;

  void reset() {
    if (gauge_ != nullptr) std::exchange(gauge_, nullptr)->Decrement();
  }
  explicit operator bool() const { return gauge_ != nullptr; }

 private:
  prometheus::Gauge* gauge_ = nullptr;
};

// Label values. The lists are closed: a label never carries a user, an address or peer text.
enum class Listener { Pop3, Pop3s };  // plain/STLS, implicit TLS
enum class AuthMechanism { User, Plain, Xoauth2, Oauthbearer };
enum class UpstreamOperation { Open, Fetch, Commit };
enum class TlsSide { Downstream, Upstream };
// An OAuth2 access-token refresh: ok, refused because the refresh token was revoked or expired
// (invalid_grant: someone must run `popgate oauth login`), or failed otherwise (endpoint down).
enum class OAuthRefreshResult { Ok, Revoked, Failed };

// The metrics of one upstream adapter ("imap", "jmap"): resolve once per mailbox.
class UpstreamMetrics {
 public:
  void observe(UpstreamOperation operation, double seconds) {
    durations_[index(operation)]->Observe(seconds);
  }
  void error(UpstreamOperation operation, ErrorKind kind) {
    errors_[index(operation)][static_cast<size_t>(kind)]->Increment();
  }
  // Holds popgate_upstream_connections_active{adapter} up while it lives.
  GaugeToken connection() { return GaugeToken(*connections_); }
  // popgate_upstream_throttled_total{adapter}: the upstream said "not now" (IMAP [UNAVAILABLE]
  // and friends, HTTP 429/503).
  void throttled() { throttled_->Increment(); }

 private:
  friend class Metrics;
  static constexpr size_t kOperations = 3;
  static constexpr size_t kErrorKinds = static_cast<size_t>(ErrorKind::Internal) + 1;
  static size_t index(UpstreamOperation operation) { return static_cast<size_t>(operation); }

  std::array<prometheus::Histogram*, kOperations> durations_{};
  std::array<std::array<prometheus::Counter*, kErrorKinds>, kOperations> errors_{};
  prometheus::Gauge* connections_ = nullptr;
  prometheus::Counter* throttled_ = nullptr;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The text exposition format, version 0.0.4, of every metric. Upstream TLS handshakes happen
  // inside the adapters' transports, which know no Metrics: they are counted by the io layer
  // (io::tls_counters()) and brought in here at each scrape.
  std::string serialize() const;

  // ---- The state store shared by replicas (gateway/state/) ----
  StateStoreMetrics& state_store() { return *state_store_; }

  // ---- Downstream (POP3 clients) ----
  // Counts a session and holds popgate_sessions_active up until the token is dropped.
  GaugeToken session_opened(Listener listener);
  // `keyword` as Pop3Server records it ("RETR", "UNKNOWN"); anything else counts as UNKNOWN.
  void command_completed(std::string_view keyword, bool ok, double seconds);
  void auth_succeeded(AuthMechanism mechanism) { auth_[mechanism_index(mechanism)][kAuthOk]->Increment(); }
  // The result label is the class the client was answered with: auth, in_use, permanent, or
  // temporary for everything else (as Pop3Server::auth_failed replies).
  void auth_failed(AuthMechanism mechanism, ErrorKind kind);
  void downstream_received(uint64_t bytes) { received_bytes_->Increment(static_cast<double>(bytes)); }
  void downstream_sent(uint64_t bytes) { sent_bytes_->Increment(static_cast<double>(bytes)); }
  void message_retrieved() { retrieved_->Increment(); }
  void messages_deleted(uint64_t count) { deleted_->Increment(static_cast<double>(count)); }
  // A connection refused by the abuse limits (popgate_connections_rejected_total{reason}).
  void connection_rejected(Refusal refusal) {
    if (refusal != Refusal::None) rejected_[static_cast<size_t>(refusal) - 1]->Increment();
  }
  void tls_handshake(TlsSide side, bool ok) {
    tls_handshakes_[static_cast<size_t>(side)][ok ? 0 : 1]->Increment();
  }

  // ---- Upstream ----
  // "imap" and "jmap" exist from the start; another kind (a test's fake) is added on first
  // use. The reference stays valid as long as this Metrics.
  UpstreamMetrics& upstream(std::string_view adapter);

  // The per-identity upstream governor (gateway/limits/upstream_governor.h): logins answered
  // [LOGIN-DELAY] from a backoff without asking the upstream, and logins refused because the
  // identity had its maximum of upstream sessions open.
  void upstream_backoff_refusal() { backoff_refusals_->Increment(); }
  void upstream_session_capped() { sessions_capped_->Increment(); }

  // ---- The process ----
  void set_draining(bool draining) { draining_->Set(draining ? 1 : 0); }
  void config_reloaded(bool ok) { (ok ? reloads_ok_ : reloads_failed_)->Increment(); }
  // popgate_oauth_token_refreshes_total{result}: no client label, the result says what to do.
  void oauth_token_refresh(OAuthRefreshResult result) {
    oauth_refreshes_[static_cast<size_t>(result)]->Increment();
  }

 private:
  struct CommandMetrics {
    std::string_view keyword;
    prometheus::Counter* ok = nullptr;
    prometheus::Counter* err = nullptr;
    prometheus::Histogram* duration = nullptr;
  };
  static constexpr size_t kCommands = 15;  // the 14 POP3 keywords popgate knows, and UNKNOWN
  static constexpr size_t kAuthResults = 6;
  static constexpr size_t kAuthOk = 0;
  static size_t mechanism_index(AuthMechanism mechanism) { return static_cast<size_t>(mechanism); }
  UpstreamMetrics& add_upstream(const std::string& adapter);  // mutex_ held

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<StateStoreMetrics> state_store_;

  std::array<prometheus::Gauge*, 2> sessions_active_{};
  std::array<prometheus::Counter*, 2> sessions_total_{};
  std::array<CommandMetrics, kCommands> commands_{};
  std::array<std::array<prometheus::Counter*, kAuthResults>, 4> auth_{};
  prometheus::Counter* received_bytes_ = nullptr;
  prometheus::Counter* sent_bytes_ = nullptr;
  prometheus::Counter* retrieved_ = nullptr;
  prometheus::Counter* deleted_ = nullptr;
  std::array<std::array<prometheus::Counter*, 2>, 2> tls_handshakes_{};  // [side][ok, failed]
  std::array<prometheus::Counter*, 3> rejected_{};                       // by Refusal, None excepted
  prometheus::Gauge* draining_ = nullptr;
  prometheus::Counter* reloads_ok_ = nullptr;
  prometheus::Counter* reloads_failed_ = nullptr;
  std::array<prometheus::Counter*, 3> oauth_refreshes_{};  // by OAuthRefreshResult

  prometheus::Family<prometheus::Histogram>* upstream_durations_ = nullptr;
  prometheus::Family<prometheus::Counter>* upstream_errors_ = nullptr;
  prometheus::Family<prometheus::Gauge>* upstream_connections_ = nullptr;
  prometheus::Family<prometheus::Counter>* upstream_throttled_ = nullptr;
  prometheus::Counter* backoff_refusals_ = nullptr;
  prometheus::Counter* sessions_capped_ = nullptr;
  std::mutex mutex_;                 // guards upstreams_
  mutable std::mutex scrape_mutex_;  // guards the two below
  mutable uint64_t upstream_handshakes_seen_ = 0;
  mutable uint64_t upstream_handshake_failures_seen_ = 0;
  // popgate_upstream_reuse_total{adapter,result} and popgate_upstream_parked_connections{adapter}:
  // the pools (gateway/upstream/upstream_pool.h) live on the worker loops and count into process-wide
  // atomics, brought in here at each scrape like the TLS handshakes. [imap, jmap][result].
  static constexpr size_t kReuseResults = 5;  // hit, miss, expired, closed, evicted
  std::array<std::array<prometheus::Counter*, kReuseResults>, 2> reuse_{};
  std::array<prometheus::Gauge*, 2> parked_{};
  mutable std::array<std::array<uint64_t, kReuseResults>, 2> reuse_seen_{};
  std::map<std::string, std::unique_ptr<UpstreamMetrics>, std::less<>> upstreams_;
};

}  // namespace popgate
