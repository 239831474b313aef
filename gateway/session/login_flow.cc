// LoginFlow: throttle, route, governor, reuse pool and maildrop lock for one login.
#include "gateway/session/login_flow.h"

#include <array>
#include <utility>

#include "gateway/log.h"

namespace popgate {
namespace {

AuthThrottleSettings throttle_settings(const Config& config) {
  AuthThrottleSettings settings;
  settings.window_ms = config.auth_throttle_window_ms;
  settings.max_failures_per_user = config.auth_throttle_max_failures;
  settings.max_failures_per_address = config.auth_throttle_max_failures_per_ip;
  settings.base_delay_ms = config.auth_failure_delay_ms;
  settings.max_delay_ms = config.auth_failure_delay_max_ms;
  return settings;
}

UpstreamGovernorSettings governor_settings(const Config& config) {
  UpstreamGovernorSettings settings;
  settings.max_sessions_per_identity = config.max_upstream_sessions_per_identity;
  settings.backoff_base_ms = config.upstream_backoff_ms;
  settings.backoff_max_ms = config.upstream_backoff_max_ms;
  return settings;
}

struct NamedMechanism {
  std::string_view name;
  AuthMechanism mechanism;
};
constexpr std::array<NamedMechanism, 4> kMechanisms = {{
    {"USER", AuthMechanism::User},
    {"PLAIN", AuthMechanism::Plain},
    {"XOAUTH2", AuthMechanism::Xoauth2},
    {"OAUTHBEARER", AuthMechanism::Oauthbearer},
}};

}  // namespace

IdentityGovernor::Slot join_slots(IdentityGovernor::Slot&& first, IdentityGovernor::Slot&& second) {
  if (!first) return std::move(second);
  if (!second) return std::move(first);
  auto both = std::make_shared<std::pair<IdentityGovernor::Slot, IdentityGovernor::Slot>>(std::move(first),
                                                                                          std::move(second));
  return IdentityGovernor::Slot([both] {
    both->first.release();
    both->second.release();
  });
}

void retire_upstream_mailbox(io::Loop& loop, MailboxPtr&& mailbox, GaugeToken&& connection,
                             IdentityGovernor::Slot&& slot) {
  struct Retired {
    MailboxPtr mailbox;
    GaugeToken connection;
    IdentityGovernor::Slot slot;
  };
  loop.deferred_delete(
      std::make_unique<Retired>(Retired{std::move(mailbox), std::move(connection), std::move(slot)}));
}

AuthMechanism auth_mechanism(std::string_view name) {
  for (const NamedMechanism& known : kMechanisms) {
    if (known.name == name) return known.mechanism;
  }
  return AuthMechanism::User;
}

CredentialKind credential_kind(AuthMechanism mechanism) {
  switch (mechanism) {
    case AuthMechanism::Xoauth2:
    case AuthMechanism::Oauthbearer:
      return CredentialKind::BearerToken;
    case AuthMechanism::User:
    case AuthMechanism::Plain:
      return CredentialKind::Password;
  }
  return CredentialKind::Password;
}

LoginFlow::LoginFlow(SessionContext& context, const Config& config, LoginHandler& handler,
                     uint64_t session_id)
    : context_(context), config_(config), handler_(handler), session_id_(session_id) {}

// The route and the mailbox in flight go at once: the handler is never called from inside them
// with either still here (a failed login's mailbox is retired first, a good one handed over).
LoginFlow::~LoginFlow() = default;

void LoginFlow::start(LoginRequest&& request) {
  mechanism_ = request.mechanism;
  user_ = request.credentials.user;
  address_ = std::move(request.address);
  if (context_.auth_throttle.locked_out(address_, user_, context_.loop.now_ms(),
                                        throttle_settings(config_))) {
    return refuse_locked_out();
  }
  SharedLoginFailures* shared = context_.shared.login_failures;
  if (shared == nullptr) return route(std::move(request.credentials));
  // What the other replicas counted: a guesser spreading attempts over them is locked out as
  // soon as their sum reaches the threshold.
  set_action("checking failed logins");
  waiting_credentials_ = std::move(request.credentials);
  pending_check_ = shared->check(address_, user_, throttle_settings(config_), [this](Result<bool> locked) {
    context_.loop.deferred_delete(std::move(pending_check_));  // this runs inside its callback
    Credentials credentials = std::move(*waiting_credentials_);
    waiting_credentials_.reset();
    if (!locked) return refuse(locked.error());
    if (locked.value()) return refuse_locked_out();
    route(std::move(credentials));
  });
}

void LoginFlow::refuse_locked_out() {
  // The upstream is not asked: a locked-out name or address learns nothing more, right or wrong.
  context_.metrics.auth_failed(mechanism_, ErrorKind::LoginDelay);
  log::Line(log::Level::Info, "login_throttled").field("session", session_id_).field("user", user_);
  finish(LoginRefusal{ErrorKind::LoginDelay, config_.auth_failure_delay_ms});
}

void LoginFlow::route(Credentials&& credentials) {
  set_action("routing the login");
  pending_route_ = context_.router.resolve(
      std::move(credentials), [this](Result<RoutedLogin> routed) { on_routed(std::move(routed)); });
}

void LoginFlow::on_routed(Result<RoutedLogin> routed) {
  if (!routed) {
    // A local account refused (after the same work as a wrong password), or its identity's
    // credential could not be had. Answered as an upstream refusal would be.
    return refuse(routed.error());
  }
  RoutedLogin login = std::move(routed).value();
  log::Line(log::Level::Debug, "login_routed")
      .field("session", session_id_)
      .field("user", user_)
      .field("route", login.route)
      .field("identity", login.identity);
  identity_ = UpstreamGovernor::identity_key(login.route, login.credentials.user, login.identity);
  open_upstream(*login.mailboxes, std::move(login.credentials));
}

void LoginFlow::open_upstream(MailboxFactory& mailboxes, Credentials&& credentials) {
  set_action("logging in upstream");
  if (std::optional<Error> refused = admit_upstream()) return refuse(*refused);
  mailbox_source_ = &mailboxes;
  SharedIdentityGovernor* shared = context_.shared.identity_governor;
  if (shared == nullptr) return connect_upstream(std::move(credentials));
  // The other replicas' say: a backoff one of them learnt, and their sessions under the cap.
  waiting_credentials_ = std::move(credentials);
  pending_admission_ = shared->admit(
      identity_, governor_settings(config_), [this](Result<IdentityGovernor::Admission> admission) {
        context_.loop.deferred_delete(std::move(pending_admission_));  // this runs inside its callback
        Credentials credentials = std::move(*waiting_credentials_);
        waiting_credentials_.reset();
        std::optional<Error> refused =
            admission ? take_admission(std::move(admission).value()) : admission.error();
        if (refused) {
          slot_.release();
          return refuse(*refused);
        }
        connect_upstream(std::move(credentials));
      });
}

void LoginFlow::connect_upstream(Credentials&& credentials) {
  MailboxFactory& mailboxes = *mailbox_source_;
  mailbox_ = mailboxes.take_parked(credentials, park_key_);
  const bool reused = mailbox_ != nullptr;
  if (!reused) mailbox_ = mailboxes.create();
  upstream_metrics_ = &context_.metrics.upstream(mailbox_->kind());
  connection_ = upstream_metrics_->connection();
  open_began_ns_ = io::monotonic_ns();
  if (reused) return reopen_parked(std::move(credentials));
  mailbox_->open(std::move(credentials), [this](Result<Snapshot> result) { on_opened(std::move(result)); });
}

std::optional<Error> LoginFlow::admit_upstream() {
  return take_admission(
      context_.upstream_governor.admit(identity_, context_.loop.now_ms(), governor_settings(config_)));
}

std::optional<Error> LoginFlow::take_admission(IdentityGovernor::Admission&& admission) {
  switch (admission.verdict) {
    case IdentityGovernor::Verdict::Admitted:
      slot_ = join_slots(std::move(slot_), std::move(admission.slot));
      return std::nullopt;
    case IdentityGovernor::Verdict::BackingOff:
      // The upstream throttled this identity moments ago: asking again now would only prolong
      // it. RFC 2449 §8.1.1: [LOGIN-DELAY], try again later.
      context_.metrics.upstream_backoff_refusal();
      return make_error(ErrorKind::LoginDelay, "the upstream identity is backing off for another " +
                                                   std::to_string((admission.wait_ms + 999) / 1000) + " s");
    case IdentityGovernor::Verdict::Capped:
      // [SYS/TEMP], not [IN-USE]: RFC 2449 §8.1.1 says [IN-USE] means the credentials were
      // accepted and the maildrop is locked, which popgate has not checked here, and clients
      // treat [IN-USE] as "someone else is reading this mailbox". [SYS/TEMP] just says "try
      // again later", which is what a device should do once a sibling session ends.
      context_.metrics.upstream_session_capped();
      return make_error(ErrorKind::Temporary, "the upstream identity has its maximum of sessions open");
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- upstream session reuse

void LoginFlow::reopen_parked(Credentials&& credentials) {
  set_action("reopening a parked upstream session");
  // Kept until the parked session proves alive: one that died unnoticed (a silent NAT timeout)
  // costs a fresh login, not a failed one.
  reuse_fallback_ = std::move(credentials);
  mailbox_->reopen([this](Result<Snapshot> result) {
    std::optional<Credentials> fallback = std::exchange(reuse_fallback_, std::nullopt);
    if (result) {
      reused_upstream_ = true;
      return on_opened(std::move(result));
    }
    // Only a session that is gone or confused is replaced; an upstream that refuses or throttles
    // this user answers the login as a fresh one would (asking again at once would not help).
    const ErrorKind kind = result.error().kind;
    if (kind != ErrorKind::Temporary && kind != ErrorKind::Protocol) return on_opened(std::move(result));
    log::Line(log::Level::Debug, "upstream_reuse_failed")
        .field("session", session_id_)
        .field("user", user_)
        .field("reason", result.error().detail);
    // Not destroyed inside its own callback; the connection gauge carries over to the new one.
    context_.loop.deferred_delete(std::move(mailbox_));
    set_action("logging in upstream");
    mailbox_ = mailbox_source_->create();
    mailbox_->open(std::move(*fallback), [this](Result<Snapshot> opened) { on_opened(std::move(opened)); });
  });
}

// ---------------------------------------------------------------- the upstream's answer

void LoginFlow::on_opened(Result<Snapshot> result) {
  upstream_metrics_->observe(UpstreamOperation::Open, io::seconds_since(open_began_ns_));
  if (!result) {
    upstream_metrics_->error(UpstreamOperation::Open, result.error().kind);
    // At login the adapters say LoginDelay only for a throttling answer.
    if (result.error().kind == ErrorKind::LoginDelay) record_throttling(result.error());
    retire_mailbox();
    return refuse(result.error());
  }
  snapshot_ = std::move(result).value();
  if (!config_.maildrop_lock) return on_locked(MaildropLockPtr());
  set_action("locking the maildrop");
  pending_lock_ = context_.locks.acquire(snapshot_.mailbox_key, [this](Result<MaildropLockPtr> lock) {
    context_.loop.deferred_delete(std::move(pending_lock_));  // this runs inside its callback
    if (!lock) {
      retire_mailbox();
      return refuse(lock.error());
    }
    on_locked(std::move(lock).value());
  });
}

void LoginFlow::on_locked(MaildropLockPtr lock) {
  context_.auth_throttle.record_success(user_);
  if (context_.shared.login_failures) context_.shared.login_failures->record_success(user_);
  context_.upstream_governor.record_success(identity_);
  context_.metrics.auth_succeeded(mechanism_);
  log::Line(log::Level::Info, "login")
      .field("session", session_id_)
      .field("user", user_)
      .field("upstream", mailbox_->kind())
      .field("upstream_reused", reused_upstream_)
      .field("messages", static_cast<uint64_t>(snapshot_.messages.size()));
  if (snapshot_.too_large > 0) {
    // Once per session: the device will never see these, and nobody else may notice.
    log::Line(log::Level::Warn, "messages_too_large")
        .field("session", session_id_)
        .field("user", user_)
        .field("hidden", snapshot_.too_large);
  }
  finish(OpenedMailbox{std::move(mailbox_), upstream_metrics_, std::move(connection_), std::move(slot_),
                       mailbox_source_, std::move(park_key_), std::move(lock), std::move(snapshot_)});
}

void LoginFlow::note_upstream_error(const Error& error) {
  if (error.kind == ErrorKind::Temporary && error.retry_after_ms > 0) record_throttling(error);
}

void LoginFlow::record_throttling(const Error& error) {
  upstream_metrics_->throttled();
  const uint64_t backoff_ms = context_.upstream_governor.record_throttled(
      identity_, error.retry_after_ms, context_.loop.now_ms(), governor_settings(config_));
  // The other replicas back off as long: one that goes on asking would only prolong it.
  if (context_.shared.identity_governor)
    context_.shared.identity_governor->record_backoff(identity_, backoff_ms);
  log::Line(log::Level::Warn, "upstream_throttled")
      .field("session", session_id_)
      .field("user", user_)
      .field("reason", error.detail)
      .field("retry_after_ms", error.retry_after_ms)
      .field("backoff_ms", backoff_ms);
}

// ---------------------------------------------------------------- the end

void LoginFlow::refuse(const Error& error) {
  context_.metrics.auth_failed(mechanism_, error.kind);
  // A refused password and a maildrop in use are the client's business; the rest is trouble upstream.
  const bool expected = error.kind == ErrorKind::Auth || error.kind == ErrorKind::InUse;
  log::Line(expected ? log::Level::Info : log::Level::Warn, "login_failed")
      .field("session", session_id_)
      .field("user", user_)
      .field("class", to_string(error.kind))
      .field("reason", error.detail);
  LoginRefusal refusal{error.kind, std::nullopt};
  if (error.kind == ErrorKind::Auth) {
    // Slow down password guessing; the answer and the delay are the same whatever was wrong
    // (popgate cannot tell an unknown user from a wrong password, and does not try).
    refusal.delay_ms = context_.auth_throttle.record_failure(address_, user_, context_.loop.now_ms(),
                                                             throttle_settings(config_));
    if (context_.shared.login_failures) {
      context_.shared.login_failures->record_failure(address_, user_, throttle_settings(config_));
    }
  }
  finish(std::move(refusal));
}

void LoginFlow::retire_mailbox() {
  if (!mailbox_) return;
  retire_upstream_mailbox(context_.loop, std::move(mailbox_), std::move(connection_), std::move(slot_));
}

void LoginFlow::set_action(std::string_view action) {
  handler_.on_login_action(action);
}

void LoginFlow::finish(LoginOutcome&& outcome) {
  // The handler may destroy this flow: nothing here is touched afterwards.
  handler_.on_login_done(std::move(outcome));
}

}  // namespace popgate
