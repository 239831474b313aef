// StateStore: the local store, or Redis connections per loop and the process's view of their health.
#include "gateway/state/state_store.h"

#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "gateway/identity/static_secret.h"
#include "gateway/io/redis_connection.h"
#include "gateway/log.h"
#include "gateway/state/redis_identity_governor.h"
#include "gateway/state/redis_login_failures.h"
#include "gateway/state/redis_maildrop_locks.h"
#include "gateway/state/redis_oauth_tokens.h"

namespace popgate {

namespace {

class LocalLoopStore final : public LoopStateStore {
 public:
  LocalLoopStore(io::Loop& loop, MaildropLocks& locks) : locks_(loop, locks) {}
  MaildropLockTable& maildrop_locks() override { return locks_; }

 private:
  LocalMaildropLockTable locks_;
};

// Longer than one token request may take (TokenManagerOptions::request_timeout_ms, 30 s): the
// lease must not run out under a refresh in flight.
constexpr uint64_t kOAuthRefreshLeaseMs = 45'000;

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "popgate";
  return name;
}

}  // namespace

class StateStore::RedisLoopStore final : public LoopStateStore {
 public:
  RedisLoopStore(io::Loop& loop, StateStore& owner, io::RedisEndpoint endpoint, io::RedisOptions options)
      : owner_(owner),
        connection_(loop, std::move(endpoint), owner.tls_context_, options),
        locks_(loop, connection_, owner.process_locks_, owner.metrics_.state_store(),
               MaildropLeaseSettings{
                   owner.settings_.state_store_prefix + "maildrop:", owner.settings_.maildrop_lease_ms,
                   owner.settings_.state_store_failure, owner.owner_prefix_}),
        login_failures_(connection_, owner.metrics_.state_store(),
                        owner.settings_.state_store_prefix + "auth:", owner.settings_.state_store_failure),
        identity_governor_(loop, connection_, owner.metrics_.state_store(),
                           owner.settings_.state_store_prefix + "identity:",
                           owner.settings_.maildrop_lease_ms, owner.settings_.state_store_failure) {
    if (owner.seal_) {
      oauth_tokens_.emplace(connection_, owner.metrics_.state_store(), *owner.seal_,
                            owner.settings_.state_store_prefix + "oauth:", kOAuthRefreshLeaseMs,
                            owner.owner_prefix_);
    }
    connection_.set_state_listener([this](bool up, const std::string& reason) {
      if (up) owner_.server_found(connection_.server());
      if (up == up_) return;
      up_ = up;
      owner_.connection_changed(up, reason);
    });
  }
  ~RedisLoopStore() override {
    if (!up_) owner_.connection_gone();  // a connection that is gone is not down
  }
  MaildropLockTable& maildrop_locks() override { return locks_; }
  SharedLoginFailures* login_failures() override { return &login_failures_; }
  SharedIdentityGovernor* identity_governor() override { return &identity_governor_; }
  oauth2::SharedTokens* oauth_tokens() override { return oauth_tokens_ ? &*oauth_tokens_ : nullptr; }

 private:
  StateStore& owner_;
  bool up_ = true;  // counted as up until it fails: the first failure is the first line
  io::RedisConnection connection_;
  RedisMaildropLockTable locks_;
  RedisLoginFailures login_failures_;
  RedisIdentityGovernor identity_governor_;
  std::optional<RedisOAuthTokens> oauth_tokens_;  // with state_store_key_file only
};

Result<std::unique_ptr<StateStore>> StateStore::create(const Config& config, Metrics& metrics) {
  SecretString password;
  if (!config.state_store.shared()) {
    // Nothing to log in to.
  } else if (!config.state_store_password_file.empty()) {
    auto read = read_secret_file(config.state_store_password_file);
    if (!read) return make_error(ErrorKind::Permanent, "state-store-password-file: " + read.error().detail);
    password = std::move(read).value();
  } else if (!config.state_store_password_env.empty()) {
    const char* value = std::getenv(config.state_store_password_env.c_str());
    if (value == nullptr || *value == '\0') {
      return make_error(ErrorKind::Permanent, "state-store-password-env: environment variable " +
                                                  config.state_store_password_env + " is not set");
    }
    password = SecretString(value);
  }
  std::optional<TokenSeal> seal;
  if (config.state_store.shared() && !config.state_store_key_file.empty()) {
    auto read = TokenSeal::from_key_file(config.state_store_key_file);
    if (!read) return make_error(ErrorKind::Permanent, "state-store-key-file: " + read.error().detail);
    seal.emplace(std::move(read).value());
  }
  std::shared_ptr<io::TlsClientContext> tls_context;
  if (config.state_store.tls) {
    auto context = io::TlsClientContext::create({config.state_store_ca, true});
    if (!context) return make_error(ErrorKind::Permanent, "state-store-ca: " + context.error().detail);
    tls_context = std::move(context).value();
  }
  return std::unique_ptr<StateStore>(
      new StateStore(config, metrics, std::move(password), std::move(tls_context), std::move(seal)));
}

StateStore::StateStore(const Config& config, Metrics& metrics, SecretString password,
                       std::shared_ptr<io::TlsClientContext> tls_context, std::optional<TokenSeal> seal)
    : settings_(config),
      url_(config.state_store),
      metrics_(metrics),
      password_(std::move(password)),
      tls_context_(std::move(tls_context)),
      seal_(std::move(seal)),
      owner_prefix_(host_name() + ":") {
  metrics_.state_store().set_up(true);
}

StateStore::~StateStore() = default;

LoopStateStorePtr StateStore::for_loop(io::Loop& loop) {
  if (!url_.shared()) return std::make_unique<LocalLoopStore>(loop, process_locks_);
  io::RedisEndpoint endpoint;
  if (url_.kind == StateStoreKind::Sentinel) {
    endpoint.sentinels = url_.servers;
    endpoint.master_name = url_.master_name;
  } else {
    endpoint.host = url_.servers.front().host;
    endpoint.port = url_.servers.front().port;
  }
  endpoint.tls = url_.tls;
  endpoint.database = url_.database;
  endpoint.user = settings_.state_store_user;
  endpoint.password = password_;
  io::RedisOptions options;
  options.connect_timeout_ms = settings_.state_store_connect_timeout_ms;
  options.command_timeout_ms = settings_.state_store_timeout_ms;
  return std::make_unique<RedisLoopStore>(loop, *this, std::move(endpoint), options);
}

void StateStore::connection_changed(bool up, const std::string& reason) {
  if (!up) {
    {
      std::lock_guard<std::mutex> guard(reason_mutex_);
      down_reason_ = reason;
    }
    if (down_connections_.fetch_add(1) == 0) {
      metrics_.state_store().set_up(false);
      log::Line(log::Level::Error, "state_store_down")
          .field("store", url_.to_string())
          .field("reason", reason)
          .field("failure_mode", settings_.state_store_failure == StateStoreFailure::Open
                                     ? "open: each replica locks on its own"
                                     : "closed: logins get [SYS/TEMP]");
    }
    return;
  }
  if (down_connections_.fetch_sub(1) == 1) {
    metrics_.state_store().set_up(true);
    log::Line line(log::Level::Info, "state_store_up");
    line.field("store", url_.to_string());
    if (url_.kind == StateStoreKind::Sentinel) line.field("master", master());
  }
}

void StateStore::server_found(const std::string& server) {
  if (url_.kind != StateStoreKind::Sentinel) return;
  std::string previous;
  {
    std::lock_guard<std::mutex> guard(reason_mutex_);
    if (server == master_) return;
    previous = std::exchange(master_, server);
  }
  // Once per process for each master the sentinels name, however many loops find it: where the
  // shared state lives now, and after a failover where it lived before.
  log::Line line(log::Level::Info, "state_store_master");
  line.field("store", url_.to_string()).field("master", server);
  if (!previous.empty()) line.field("previous", previous);
}

std::string StateStore::master() const {
  std::lock_guard<std::mutex> guard(reason_mutex_);
  return master_;
}

void StateStore::connection_gone() {
  if (down_connections_.fetch_sub(1) == 1) metrics_.state_store().set_up(true);
}

std::string StateStore::status() const {
  if (!url_.shared()) return "local";
  if (!down()) {
    const std::string where = url_.kind == StateStoreKind::Sentinel ? master() : "";
    return url_.to_string() + " up" + (where.empty() ? "" : ", master " + where);
  }
  std::lock_guard<std::mutex> guard(reason_mutex_);
  return url_.to_string() + " down: " + down_reason_;
}

}  // namespace popgate
