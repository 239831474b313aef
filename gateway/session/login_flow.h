// LoginFlow: one POP3 login, from the client's credentials to an open upstream mailbox or a
// refusal, and the policy on the way.
//
// In order: the LoginThrottle's lock-out, this replica's and the other replicas' (a locked-out
// name or address is refused without asking anyone), the LoginRouter (which upstream, as whom), the
// IdentityGovernor's say for that upstream identity, a parked upstream session of the same user and
// credential (UpstreamPool) or a new upstream login, and the maildrop lock (MaildropLockTable: this
// process's, or shared by replicas). Whichever step ends the login ends it once, through
// LoginHandler::on_login_done. Every log line and metric of a login is written here; the session only answers
// the client.
//
// Destroying the LoginFlow cancels what is in flight (the route, the upstream login): nothing
// runs afterwards, as PendingRoute and Mailbox promise for their own callbacks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "adapters/mailbox.h"
#include "gateway/admin/metrics.h"
#include "gateway/config/config.h"
#include "gateway/identity/login_router.h"
#include "gateway/limits/maildrop_lock.h"
#include "gateway/limits/upstream_governor.h"
#include "gateway/session/session_context.h"
#include "protocol/common/result.h"

namespace popgate {

// Pop3Server's name of the mechanism a client logged in with ("USER", "PLAIN", "XOAUTH2",
// "OAUTHBEARER"); any other counts as USER.
AuthMechanism auth_mechanism(std::string_view name);
// XOAUTH2 and OAUTHBEARER carry an OAuth2 access token (RFC 6750), the others a password.
CredentialKind credential_kind(AuthMechanism mechanism);

// What the client presented, and from where.
struct LoginRequest {
  AuthMechanism mechanism = AuthMechanism::User;
  Credentials credentials;
  std::string address;  // client_address_key() of the peer: what the throttle counts
};

// A successful login: the logged-in upstream session and everything that goes with it. The
// connection gauge and the governor slot belong to the mailbox: they go when it goes.
struct OpenedMailbox {
  MailboxPtr mailbox;
  UpstreamMetrics* metrics = nullptr;  // of mailbox->kind()
  GaugeToken connection;               // popgate_upstream_connections_active
  IdentityGovernor::Slot slot;         // the identity's place under --max-upstream-sessions-per-identity
  MailboxFactory* source = nullptr;    // where the mailbox came from, and may be parked at a clean end
  std::string park_key;                // UpstreamPool::park_key; empty: reuse is off
  MaildropLockPtr lock;                // null without --maildrop-lock
  Snapshot snapshot;
};

// One slot that holds both places (this replica's and the replicas' together) and gives back both.
IdentityGovernor::Slot join_slots(IdentityGovernor::Slot&& first, IdentityGovernor::Slot&& second);

// Lets go of an upstream mailbox on the next tick (its owner may be deep inside one of its
// callbacks), with the connection gauge and the governor slot that count it.
void retire_upstream_mailbox(io::Loop& loop, MailboxPtr&& mailbox, GaugeToken&& connection,
                             IdentityGovernor::Slot&& slot);

// A refused login. The class picks the POP3 reply: [AUTH], [LOGIN-DELAY], [SYS/TEMP], [IN-USE].
struct LoginRefusal {
  ErrorKind kind = ErrorKind::Auth;
  // Answer only after this long (refused credentials, a lock-out: it slows guessing down); none:
  // answer at once.
  std::optional<uint64_t> delay_ms;
};

using LoginOutcome = std::variant<OpenedMailbox, LoginRefusal>;

// The session's side of a login.
class LoginHandler {
 public:
  virtual ~LoginHandler() = default;
  // What the login is doing now ("routing the login"), for the session's log lines. Must not
  // destroy the LoginFlow.
  virtual void on_login_action(std::string_view action) = 0;
  // The login's one outcome; may come inside LoginFlow::start() (a lock-out is known at once). The
  // handler may destroy the LoginFlow inside the call: it is always the flow's last act.
  virtual void on_login_done(LoginOutcome&& outcome) = 0;
};

class LoginFlow {
 public:
  // `config` is the session's (the one it started with); `session_id` names the login's log lines.
  LoginFlow(SessionContext& context, const Config& config, LoginHandler& handler, uint64_t session_id);
  ~LoginFlow();
  LoginFlow(const LoginFlow&) = delete;
  LoginFlow& operator=(const LoginFlow&) = delete;

  // Runs the login. Once per LoginFlow.
  void start(LoginRequest&& request);

  // An upstream error later in a session this login opened (a fetch, the UPDATE). A Temporary that
  // says how long to wait (HTTP 429/503 with Retry-After) is a throttling answer: the identity
  // backs off as after a throttled login.
  void note_upstream_error(const Error& error);

 private:
  // A locked-out name or address: [LOGIN-DELAY] after the base delay, without asking anyone.
  void refuse_locked_out();
  void route(Credentials&& credentials);
  void on_routed(Result<RoutedLogin> routed);
  void open_upstream(MailboxFactory& mailboxes, Credentials&& credentials);
  // The IdentityGovernor's say before a login goes upstream: the refusal, if it refuses.
  std::optional<Error> admit_upstream();
  // A governor's verdict (this replica's or the shared one's): the refusal, or its slot kept.
  std::optional<Error> take_admission(IdentityGovernor::Admission&& admission);
  // Admitted everywhere: a parked upstream session or a new upstream login.
  void connect_upstream(Credentials&& credentials);
  // Upstream session reuse (gateway/upstream/upstream_pool.h): a fresh snapshot on a parked session.
  void reopen_parked(Credentials&& credentials);
  void on_opened(Result<Snapshot> result);
  // The maildrop is ours (or --no-maildrop-lock): the login succeeded.
  void on_locked(MaildropLockPtr lock);
  // A throttling answer from the upstream: counted, and the identity backs off.
  void record_throttling(const Error& error);
  // A refused login (throttle, routing, governor, credentials, upstream, lock): metric, log line,
  // the failure's accounting, then the outcome.
  void refuse(const Error& error);
  // The mailbox of a failed login and what counts it go on the next tick (it may be calling us).
  void retire_mailbox();
  void set_action(std::string_view action);
  void finish(LoginOutcome&& outcome);

  SessionContext& context_;
  const Config& config_;
  LoginHandler& handler_;
  const uint64_t session_id_;

  AuthMechanism mechanism_ = AuthMechanism::User;
  std::string user_;      // as the client gave it: for the log and the throttle
  std::string address_;   // LoginRequest::address
  std::string identity_;  // UpstreamGovernor::identity_key of the upstream account
  // While the other replicas are asked (a shared state store): what they counted of failed
  // logins, their say on the upstream identity, and the credentials that wait for the answer.
  SharedLoginFailures::PendingCheckPtr pending_check_;
  SharedIdentityGovernor::PendingAdmissionPtr pending_admission_;
  std::optional<Credentials> waiting_credentials_;
  PendingRoutePtr pending_route_;
  // The upstream login in progress; handed over with the outcome.
  MailboxPtr mailbox_;
  UpstreamMetrics* upstream_metrics_ = nullptr;  // of mailbox_->kind(), once a mailbox exists
  GaugeToken connection_;
  IdentityGovernor::Slot slot_;
  MailboxFactory* mailbox_source_ = nullptr;
  std::string park_key_;
  std::optional<Credentials> reuse_fallback_;  // while a parked session reopens
  bool reused_upstream_ = false;               // the login got a parked upstream session
  uint64_t open_began_ns_ = 0;                 // when the upstream login began (io::monotonic_ns)
  Snapshot snapshot_;                          // of the opened mailbox, while its lock is taken
  PendingMaildropLockPtr pending_lock_;
};

using LoginFlowPtr = std::unique_ptr<LoginFlow>;

}  // namespace popgate
