// Metrics: the families, their label children created up front, and the text exposition.
#include "gateway/admin/metrics.h"

#include <prometheus/text_serializer.h>

#include "gateway/io/tls_transport.h"
#include "gateway/upstream/upstream_pool.h"

namespace popgate {
namespace {

// The pools' counters of one adapter in the order of Metrics::reuse_, with their label values.
constexpr std::array<const char*, 2> kReuseAdapters = {"imap", "jmap"};
constexpr std::array<const char*, 5> kReuseResultNames = {"hit", "miss", "expired", "closed", "evicted"};
std::array<uint64_t, 5> reuse_counts(const UpstreamReuseCounters& counters) {
  return {counters.hit.load(), counters.miss.load(), counters.expired.load(), counters.closed.load(),
          counters.evicted.load()};
}

// Seconds, from 100 µs (a command answered from memory) to a minute (a slow upstream).
const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
  return buckets;
}

// Pop3Server's keywords (its dispatch table) and its name for everything else.
constexpr std::array<std::string_view, 15> kCommandKeywords = {"USER", "PASS", "AUTH", "STLS", "CAPA",
                                                               "QUIT", "STAT", "LIST", "RETR", "DELE",
                                                               "NOOP", "RSET", "TOP",  "UIDL", "UNKNOWN"};

static_assert(kCommandKeywords.size() == 15 && kCommandKeywords.back() == "UNKNOWN");

constexpr std::array<const char*, 2> kListenerNames = {"pop3", "pop3s"};
constexpr std::array<const char*, 4> kMechanismNames = {"user", "plain", "xoauth2", "oauthbearer"};
// Index 0 is success; the rest are the classes a failed login is answered with.
constexpr std::array<const char*, 6> kAuthResultNames = {"ok",        "auth",   "temporary",
                                                         "permanent", "in_use", "login_delay"};
constexpr std::array<const char*, 3> kOperationNames = {"open", "fetch", "commit"};
constexpr std::array<const char*, 2> kTlsSideNames = {"downstream", "upstream"};

size_t auth_result_index(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Auth:
      return 1;
    case ErrorKind::InUse:
      return 4;
    case ErrorKind::Permanent:
      return 3;
    case ErrorKind::LoginDelay:
      return 5;
    default:
      return 2;  // temporary: -ERR [SYS/TEMP]
  }
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      state_store_(std::make_unique<StateStoreMetrics>(*registry_)) {
  // Handshakes before this Metrics existed are not its business (tests make many of them).
  upstream_handshakes_seen_ = io::tls_counters().client_handshakes.load();
  upstream_handshake_failures_seen_ = io::tls_counters().client_handshake_failures.load();
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  prometheus::Registry& registry = *registry_;

  BuildGauge()
      .Name("popgate_build_info")
      .Help("popgate's version; always 1")
      .Register(registry)
      .Add({{"version", POPGATE_VERSION}})
      .Set(1);

  auto& sessions_active =
      BuildGauge().Name("popgate_sessions_active").Help("POP3 sessions open now").Register(registry);
  auto& sessions_total =
      BuildCounter().Name("popgate_sessions_total").Help("POP3 sessions accepted").Register(registry);
  for (size_t i = 0; i < kListenerNames.size(); ++i) {
    sessions_active_[i] = &sessions_active.Add({{"listener", kListenerNames[i]}});
    sessions_total_[i] = &sessions_total.Add({{"listener", kListenerNames[i]}});
  }

  auto& commands = BuildCounter()
                       .Name("popgate_commands_total")
                       .Help("POP3 commands answered, by keyword and by whether the reply was +OK")
                       .Register(registry);
  auto& durations = BuildHistogram()
                        .Name("popgate_command_duration_seconds")
                        .Help("Time from taking a POP3 command line to queueing its final reply")
                        .Register(registry);
  for (size_t i = 0; i < kCommandKeywords.size(); ++i) {
    const std::string keyword(kCommandKeywords[i]);
    commands_[i].keyword = kCommandKeywords[i];
    commands_[i].ok = &commands.Add({{"command", keyword}, {"result", "ok"}});
    commands_[i].err = &commands.Add({{"command", keyword}, {"result", "err"}});
    commands_[i].duration = &durations.Add({{"command", keyword}}, duration_buckets());
  }

  auto& auth = BuildCounter()
                   .Name("popgate_auth_attempts_total")
                   .Help("POP3 logins tried, by mechanism and by the answer the client got")
                   .Register(registry);
  for (size_t m = 0; m < kMechanismNames.size(); ++m) {
    for (size_t r = 0; r < kAuthResultNames.size(); ++r) {
      auth_[m][r] = &auth.Add({{"mechanism", kMechanismNames[m]}, {"result", kAuthResultNames[r]}});
    }
  }

  received_bytes_ = &BuildCounter()
                         .Name("popgate_downstream_received_bytes_total")
                         .Help("Octets received from POP3 clients (decrypted)")
                         .Register(registry)
                         .Add({});
  sent_bytes_ = &BuildCounter()
                     .Name("popgate_downstream_sent_bytes_total")
                     .Help("Octets sent to POP3 clients (before encryption)")
                     .Register(registry)
                     .Add({});
  retrieved_ = &BuildCounter()
                    .Name("popgate_messages_retrieved_total")
                    .Help("Messages sent whole to a client by RETR")
                    .Register(registry)
                    .Add({});
  deleted_ = &BuildCounter()
                  .Name("popgate_messages_deleted_total")
                  .Help("Messages removed upstream by a successful UPDATE")
                  .Register(registry)
                  .Add({});

  auto& tls = BuildCounter()
                  .Name("popgate_tls_handshakes_total")
                  .Help("TLS handshakes, with clients (downstream) and with the upstream")
                  .Register(registry);
  for (size_t side = 0; side < kTlsSideNames.size(); ++side) {
    tls_handshakes_[side][0] = &tls.Add({{"side", kTlsSideNames[side]}, {"result", "ok"}});
    tls_handshakes_[side][1] = &tls.Add({{"side", kTlsSideNames[side]}, {"result", "failed"}});
  }

  upstream_durations_ = &BuildHistogram()
                             .Name("popgate_upstream_operation_duration_seconds")
                             .Help("Time of each upstream mailbox operation, failed ones included")
                             .Register(registry);
  upstream_errors_ = &BuildCounter()
                          .Name("popgate_upstream_errors_total")
                          .Help("Failed upstream mailbox operations, by error class")
                          .Register(registry);
  upstream_connections_ = &BuildGauge()
                               .Name("popgate_upstream_connections_active")
                               .Help("Upstream mailboxes open now (one connection each)")
                               .Register(registry);
  upstream_throttled_ = &BuildCounter()
                             .Name("popgate_upstream_throttled_total")
                             .Help("Throttling answers from the upstream (IMAP [UNAVAILABLE], HTTP 429/503)")
                             .Register(registry);
  backoff_refusals_ = &BuildCounter()
                           .Name("popgate_upstream_backoff_refusals_total")
                           .Help("Logins answered [LOGIN-DELAY] while their upstream identity backs off")
                           .Register(registry)
                           .Add({});
  sessions_capped_ = &BuildCounter()
                          .Name("popgate_upstream_sessions_capped_total")
                          .Help("Logins refused: their upstream identity had its maximum of sessions open")
                          .Register(registry)
                          .Add({});
  auto& reuse = BuildCounter()
                    .Name("popgate_upstream_reuse_total")
                    .Help(
                        "Upstream session reuse after QUIT: logins that got a parked session (hit) or "
                        "not (miss), and parked sessions that expired, were closed upstream or evicted")
                    .Register(registry);
  auto& parked =
      BuildGauge()
          .Name("popgate_upstream_parked_connections")
          .Help("Logged-in upstream sessions parked for reuse now (not in upstream_connections_active)")
          .Register(registry);
  for (size_t a = 0; a < kReuseAdapters.size(); ++a) {
    // Reuse before this Metrics existed is not its business (tests make many pools).
    reuse_seen_[a] = reuse_counts(upstream_reuse_counters(kReuseAdapters[a]));
    for (size_t r = 0; r < kReuseResults; ++r) {
      reuse_[a][r] = &reuse.Add({{"adapter", kReuseAdapters[a]}, {"result", kReuseResultNames[r]}});
    }
    parked_[a] = &parked.Add({{"adapter", kReuseAdapters[a]}});
  }

  {
    std::lock_guard lock(mutex_);
    add_upstream("imap");
    add_upstream("jmap");
  }

  auto& rejected = BuildCounter()
                       .Name("popgate_connections_rejected_total")
                       .Help("POP3 connections refused by the abuse limits, by the limit they hit")
                       .Register(registry);
  for (Refusal refusal : {Refusal::MaxSessions, Refusal::MaxSessionsPerAddress, Refusal::ConnectionRate}) {
    rejected_[static_cast<size_t>(refusal) - 1] = &rejected.Add({{"reason", to_string(refusal)}});
  }

  auto& oauth_refreshes = BuildCounter()
                              .Name("popgate_oauth_token_refreshes_total")
                              .Help("OAuth2 access-token refreshes, by result (ok, revoked, failed)")
                              .Register(registry);
  for (auto [result, name] :
       {std::pair{OAuthRefreshResult::Ok, "ok"}, std::pair{OAuthRefreshResult::Revoked, "revoked"},
        std::pair{OAuthRefreshResult::Failed, "failed"}}) {
    oauth_refreshes_[static_cast<size_t>(result)] = &oauth_refreshes.Add({{"result", name}});
  }

  draining_ = &BuildGauge()
                   .Name("popgate_draining")
                   .Help("1 while popgate is draining: no new sessions, live ones finishing")
                   .Register(registry)
                   .Add({});
  auto& reloads = BuildCounter()
                      .Name("popgate_config_reloads_total")
                      .Help("Configuration reloads (SIGHUP)")
                      .Register(registry);
  reloads_ok_ = &reloads.Add({{"result", "ok"}});
  reloads_failed_ = &reloads.Add({{"result", "failed"}});
}

Metrics::~Metrics() = default;

std::string Metrics::serialize() const {
  {
    std::lock_guard<std::mutex> guard(scrape_mutex_);
    const auto& counters = io::tls_counters();
    auto bring_in = [](uint64_t now, uint64_t& seen, prometheus::Counter* counter) {
      if (now > seen) counter->Increment(static_cast<double>(now - seen));
      seen = now;
    };
    const auto upstream = static_cast<size_t>(TlsSide::Upstream);
    bring_in(counters.client_handshakes.load(), upstream_handshakes_seen_, tls_handshakes_[upstream][0]);
    bring_in(counters.client_handshake_failures.load(), upstream_handshake_failures_seen_,
             tls_handshakes_[upstream][1]);
    for (size_t a = 0; a < kReuseAdapters.size(); ++a) {
      const UpstreamReuseCounters& pools = upstream_reuse_counters(kReuseAdapters[a]);
      const std::array<uint64_t, kReuseResults> now = reuse_counts(pools);
      for (size_t r = 0; r < kReuseResults; ++r) bring_in(now[r], reuse_seen_[a][r], reuse_[a][r]);
      parked_[a]->Set(static_cast<double>(pools.parked.load()));
    }
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

GaugeToken Metrics::session_opened(Listener listener) {
  const auto i = static_cast<size_t>(listener);
  sessions_total_[i]->Increment();
  return GaugeToken(*sessions_active_[i]);
}

void Metrics::command_completed(std::string_view keyword, bool ok, double seconds) {
  CommandMetrics* command = &commands_.back();  // UNKNOWN
  for (CommandMetrics& candidate : commands_) {
    if (candidate.keyword == keyword) {
      command = &candidate;
      break;
    }
  }
  (ok ? command->ok : command->err)->Increment();
  command->duration->Observe(seconds);
}

void Metrics::auth_failed(AuthMechanism mechanism, ErrorKind kind) {
  auth_[mechanism_index(mechanism)][auth_result_index(kind)]->Increment();
}

UpstreamMetrics& Metrics::upstream(std::string_view adapter) {
  std::lock_guard lock(mutex_);
  if (auto it = upstreams_.find(adapter); it != upstreams_.end()) return *it->second;
  return add_upstream(std::string(adapter));
}

UpstreamMetrics& Metrics::add_upstream(const std::string& adapter) {
  auto metrics = std::make_unique<UpstreamMetrics>();
  for (size_t op = 0; op < kOperationNames.size(); ++op) {
    metrics->durations_[op] = &upstream_durations_->Add(
        {{"adapter", adapter}, {"operation", kOperationNames[op]}}, duration_buckets());
    for (size_t kind = 0; kind < UpstreamMetrics::kErrorKinds; ++kind) {
      metrics->errors_[op][kind] =
          &upstream_errors_->Add({{"adapter", adapter},
                                  {"operation", kOperationNames[op]},
                                  {"class", to_string(static_cast<ErrorKind>(kind))}});
    }
  }
  metrics->connections_ = &upstream_connections_->Add({{"adapter", adapter}});
  metrics->throttled_ = &upstream_throttled_->Add({{"adapter", adapter}});
  UpstreamMetrics& added = *metrics;
  upstreams_.emplace(adapter, std::move(metrics));
  return added;
}

}  // namespace popgate
