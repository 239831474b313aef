// LoginFlow on its own, against a scripted Mailbox: each step's refusal and its reply class, the
// throttle's delays, the governor's backoff and cap, the maildrop lock, a parked session reused or
// replaced, one outcome per login, and cancellation by destroying the flow.
#include "gateway/session/login_flow.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gateway/limits/auth_throttle.h"
#include "gateway/limits/upstream_governor.h"
#include "gateway/log.h"
#include "tests/unit/gateway/captured_stderr.h"
#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using testing::FakeMailboxFactory;
using testing::FakeUpstream;
using testing::run_loop_until;

// A logged-in upstream session left parked: reopen() answers with a fresh snapshot or `failure`.
class ParkedMailbox final : public Mailbox {
 public:
  ParkedMailbox(io::Loop& loop, std::optional<ErrorKind> failure, int& live)
      : loop_(loop), failure_(failure), live_(live) {
    ++live_;
  }
  ~ParkedMailbox() override {
    *alive_ = false;
    --live_;
  }

  void open(Credentials, OpenDone done) override {
    later(
        [done = std::move(done)] { done(make_error(ErrorKind::Internal, "a parked session is reopened")); });
  }
  void reopen(OpenDone done) override {
    later([this, done = std::move(done)] {
      if (failure_) return done(make_error(*failure_, "scripted reopen failure"));
      done(Snapshot{"fake/alice", {{"21", 10, "UIDL-P"}}});
    });
  }
  void fetch(const MessageInfo&, FetchKind, BodySink&, Done) override {}
  void pause_body() override {}
  void resume_body() override {}
  void commit(std::vector<MessageInfo>, Done) override {}
  std::string_view kind() const override { return "fake"; }
  bool can_park() const override { return true; }

 private:
  void later(std::function<void()> fn) {
    std::weak_ptr<bool> alive = alive_;
    loop_.defer([alive, fn = std::move(fn)] {
      if (!alive.expired()) fn();
    });
  }

  io::Loop& loop_;
  std::optional<ErrorKind> failure_;
  int& live_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// An upstream that never answers the login.
class HangingMailbox final : public Mailbox {
 public:
  explicit HangingMailbox(int& live) : live_(live) { ++live_; }
  ~HangingMailbox() override { --live_; }
  void open(Credentials, OpenDone done) override { done_ = std::move(done); }
  void fetch(const MessageInfo&, FetchKind, BodySink&, Done) override {}
  void pause_body() override {}
  void resume_body() override {}
  void commit(std::vector<MessageInfo>, Done) override {}
  std::string_view kind() const override { return "fake"; }

 private:
  int& live_;
  OpenDone done_;  // dropped unanswered with the mailbox
};

// Counts new upstream logins, and hands out a parked session once when one is set.
class ParkingFactory final : public MailboxFactory {
 public:
  ParkingFactory(MailboxFactory& fresh, int& scripted_live) : fresh_(fresh), scripted_live_(scripted_live) {}
  MailboxPtr create() override {
    ++created;
    if (hang) return std::make_unique<HangingMailbox>(scripted_live_);
    return fresh_.create();
  }
  MailboxPtr take_parked(const Credentials& credentials, std::string& park_key) override {
    park_key = parking ? "park/" + credentials.user : "";
    return std::move(parked);
  }

  int created = 0;
  bool hang = false;  // new logins never answer
  bool parking = false;
  MailboxPtr parked;

 private:
  MailboxFactory& fresh_;
  int& scripted_live_;
};

// The session's side: what the flow said, in order.
class RecordingHandler final : public LoginHandler {
 public:
  void on_login_action(std::string_view action) override { actions.emplace_back(action); }
  void on_login_done(LoginOutcome&& outcome) override {
    ++outcomes;
    last = std::move(outcome);
    if (then) then();
  }

  std::vector<std::string> actions;
  int outcomes = 0;
  std::optional<LoginOutcome> last;
  std::function<void()> then;  // runs inside on_login_done
};

class LoginFlowTest : public ::testing::Test {
 protected:
  LoginFlowTest() {
    config_->auth_failure_delay_ms = 100;
    config_->auth_failure_delay_max_ms = 400;
    config_->auth_throttle_max_failures = 3;
    config_->max_upstream_sessions_per_identity = 2;
    config_->upstream_backoff_ms = 60'000;  // longer than any test
    upstream_.messages = {{{"11", 22, "UIDL-A"}, "Subject: a\r\n\r\nbody one\r\n"}};
  }

  void TearDown() override {
    flow_.reset();
    handler_.last.reset();
    EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live_mailboxes == 0 && scripted_live_ == 0; }));
    EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 0.0);
    EXPECT_EQ(governor_.open_sessions(alice_), 0u);
    EXPECT_EQ(locks_.held(), 0u);
  }

  // Starts a login; the outcome may already be there when this returns.
  void start(std::string user, std::string password, AuthMechanism mechanism = AuthMechanism::User) {
    handler_.actions.clear();
    handler_.outcomes = 0;
    handler_.last.reset();
    flow_ = std::make_unique<LoginFlow>(context_, *config_, handler_, 7);
    flow_->start(
        LoginRequest{mechanism, Credentials{"USER", std::move(user), SecretString(password)}, "192.0.2.7"});
  }
  // Runs the loop until the login has its outcome; false if it never came.
  bool finish() {
    return run_loop_until(loop_, [&] { return handler_.outcomes > 0; });
  }
  const LoginRefusal* refusal() const {
    return handler_.last ? std::get_if<LoginRefusal>(&*handler_.last) : nullptr;
  }
  OpenedMailbox* opened() { return handler_.last ? std::get_if<OpenedMailbox>(&*handler_.last) : nullptr; }

  double gauge(const std::string& line_prefix) {
    const std::string text = metrics_.serialize();
    const size_t at = text.find("\n" + line_prefix + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + line_prefix.size() + 2));
  }
  // A context like the fixture's with other collaborators.
  SessionContext context_with(MaildropLockTable& locks, LoginThrottle& throttle, IdentityGovernor& governor,
                              SharedLimits shared = {}) {
    return SessionContext{.loop = loop_,
                          .config = config_,
                          .router = *router_,
                          .locks = locks,
                          .certificates = nullptr,
                          .metrics = metrics_,
                          .auth_throttle = throttle,
                          .upstream_governor = governor,
                          .shared = shared};
  }
  double auth_attempts(const std::string& mechanism, const std::string& result) {
    return gauge("popgate_auth_attempts_total{mechanism=\"" + mechanism + "\",result=\"" + result + "\"}");
  }

  Metrics metrics_;  // outlives the loop, whose dropped work may hold gauge tokens
  io::Loop loop_;
  FakeUpstream upstream_;
  FakeMailboxFactory fakes_{loop_, upstream_};
  int scripted_live_ = 0;  // ParkedMailbox and HangingMailbox
  ParkingFactory factory_{fakes_, scripted_live_};
  LoginRouterPtr router_ = make_passthrough_router(loop_, factory_);
  MaildropLocks locks_;
  LocalMaildropLockTable lock_table_{loop_, locks_};
  AuthThrottle throttle_;
  UpstreamGovernor governor_;
  std::shared_ptr<Config> config_ = std::make_shared<Config>();
  SessionContext context_{.loop = loop_,
                          .config = config_,
                          .router = *router_,
                          .locks = lock_table_,
                          .certificates = nullptr,
                          .metrics = metrics_,
                          .auth_throttle = throttle_,
                          .upstream_governor = governor_};
  const std::string alice_ = UpstreamGovernor::identity_key("default", "alice", "");
  RecordingHandler handler_;
  LoginFlowPtr flow_;
};

TEST_F(LoginFlowTest, ALoginHandsOverItsMailboxSnapshotLockAndSlot) {
  start("alice", "secret", AuthMechanism::Plain);
  EXPECT_EQ(handler_.outcomes, 0) << "a route is answered on a later tick";
  ASSERT_TRUE(finish());
  EXPECT_EQ(handler_.outcomes, 1);
  OpenedMailbox* in = opened();
  ASSERT_NE(in, nullptr);
  ASSERT_NE(in->mailbox, nullptr);
  EXPECT_EQ(in->mailbox->kind(), "fake");
  EXPECT_EQ(in->metrics, &metrics_.upstream("fake"));
  EXPECT_EQ(in->source, &factory_);
  EXPECT_EQ(in->park_key, "");  // no reuse without a pool
  ASSERT_EQ(in->snapshot.messages.size(), 1u);
  EXPECT_EQ(in->snapshot.messages[0].uidl, "UIDL-A");
  EXPECT_NE(in->lock, nullptr);
  EXPECT_EQ(locks_.held(), 1u);
  EXPECT_TRUE(in->connection);
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 1.0);
  EXPECT_EQ(governor_.open_sessions(alice_), 1u);
  EXPECT_EQ(auth_attempts("plain", "ok"), 1.0);
  EXPECT_EQ(handler_.actions,
            (std::vector<std::string>{"routing the login", "logging in upstream", "locking the maildrop"}));
  // What counts the mailbox goes with it.
  handler_.last.reset();
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 0.0);
  EXPECT_EQ(governor_.open_sessions(alice_), 0u);
  EXPECT_EQ(locks_.held(), 0u);
  run_loop_until(
      loop_, [] { return false; }, 20);
  EXPECT_EQ(handler_.outcomes, 1) << "one outcome per login";
}

TEST_F(LoginFlowTest, RefusedCredentialsWaitTheThrottlesGrowingDelay) {
  const std::vector<uint64_t> delays = {100, 200};
  for (uint64_t delay : delays) {
    start("alice", "wrong");
    ASSERT_TRUE(finish());
    ASSERT_NE(refusal(), nullptr);
    EXPECT_EQ(refusal()->kind, ErrorKind::Auth);
    EXPECT_EQ(refusal()->delay_ms, std::optional<uint64_t>(delay));
  }
  EXPECT_EQ(auth_attempts("user", "auth"), 2.0);
  EXPECT_EQ(factory_.created, 2);
  // A success forgets the user's failures: the next failure waits the base delay again.
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(opened(), nullptr);
  handler_.last.reset();
  start("alice", "wrong");
  ASSERT_TRUE(finish());
  ASSERT_NE(refusal(), nullptr);
  // The address kept its two failures (the user's went): the third from it waits the third delay.
  EXPECT_EQ(refusal()->delay_ms, std::optional<uint64_t>(400));
}

TEST_F(LoginFlowTest, ALockedOutLoginIsRefusedAtOnceWithoutRoutingOrAskingTheUpstream) {
  for (int i = 0; i < 3; ++i) {
    start("alice", "wrong");
    ASSERT_TRUE(finish());
  }
  ASSERT_EQ(factory_.created, 3);
  start("ALICE", "secret");
  EXPECT_EQ(handler_.outcomes, 1) << "known inside start()";
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::LoginDelay);
  EXPECT_EQ(refusal()->delay_ms, std::optional<uint64_t>(100)) << "the fixed --auth-failure-delay";
  EXPECT_TRUE(handler_.actions.empty());
  EXPECT_EQ(factory_.created, 3);
  EXPECT_EQ(auth_attempts("user", "login_delay"), 1.0);
}

TEST_F(LoginFlowTest, AThrottledIdentityBacksOffWithoutAskingTheUpstreamAgain) {
  upstream_.open_failure = ErrorKind::LoginDelay;  // what the adapters say for a throttling answer
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::LoginDelay);
  EXPECT_EQ(refusal()->delay_ms, std::nullopt);
  EXPECT_EQ(gauge("popgate_upstream_throttled_total{adapter=\"fake\"}"), 1.0);

  upstream_.open_failure.reset();
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::LoginDelay);
  EXPECT_EQ(factory_.created, 1) << "the backoff answered";
  EXPECT_EQ(gauge("popgate_upstream_backoff_refusals_total"), 1.0);
  EXPECT_EQ(handler_.actions, (std::vector<std::string>{"routing the login", "logging in upstream"}));
}

TEST_F(LoginFlowTest, TheLoginOverTheIdentitysCapIsRefusedSysTemp) {
  config_->maildrop_lock = false;  // the cap is what limits these
  std::vector<OpenedMailbox> held;
  for (int i = 0; i < 2; ++i) {
    start("alice", "secret");
    ASSERT_TRUE(finish());
    ASSERT_NE(opened(), nullptr);
    held.push_back(std::move(*opened()));
  }
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::Temporary);
  EXPECT_EQ(refusal()->delay_ms, std::nullopt);
  EXPECT_EQ(factory_.created, 2);
  EXPECT_EQ(gauge("popgate_upstream_sessions_capped_total"), 1.0);
  held.pop_back();  // one session ends: its slot goes with its mailbox
  start("alice", "secret");
  ASSERT_TRUE(finish());
  EXPECT_NE(opened(), nullptr);
}

TEST_F(LoginFlowTest, AMaildropInUseIsRefusedAndItsMailboxRetired) {
  MaildropLockPtr other = locks_.try_acquire("fake/alice");
  ASSERT_NE(other, nullptr);
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::InUse);
  EXPECT_EQ(refusal()->delay_ms, std::nullopt);
  EXPECT_EQ(auth_attempts("user", "in_use"), 1.0);
  EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live_mailboxes == 0; }));
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 0.0);
  EXPECT_EQ(governor_.open_sessions(alice_), 0u);
}

TEST_F(LoginFlowTest, AParkedSessionIsReopenedInsteadOfANewLogin) {
  factory_.parking = true;
  factory_.parked = std::make_unique<ParkedMailbox>(loop_, std::nullopt, scripted_live_);
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(opened(), nullptr);
  EXPECT_EQ(factory_.created, 0);
  EXPECT_EQ(opened()->park_key, "park/alice");
  ASSERT_EQ(opened()->snapshot.messages.size(), 1u);
  EXPECT_EQ(opened()->snapshot.messages[0].uidl, "UIDL-P");
  EXPECT_EQ(handler_.actions,
            (std::vector<std::string>{"routing the login", "logging in upstream",
                                      "reopening a parked upstream session", "locking the maildrop"}));
}

TEST_F(LoginFlowTest, AParkedSessionThatDiedIsReplacedByAFreshLogin) {
  factory_.parking = true;
  factory_.parked = std::make_unique<ParkedMailbox>(loop_, ErrorKind::Temporary, scripted_live_);
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(opened(), nullptr);
  EXPECT_EQ(factory_.created, 1);
  EXPECT_EQ(opened()->snapshot.messages[0].uidl, "UIDL-A");
  EXPECT_EQ(handler_.actions, (std::vector<std::string>{"routing the login", "logging in upstream",
                                                        "reopening a parked upstream session",
                                                        "logging in upstream", "locking the maildrop"}));
  EXPECT_TRUE(run_loop_until(loop_, [&] { return scripted_live_ == 0; }));
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 1.0) << "carried over";
}

TEST_F(LoginFlowTest, AParkedSessionThatRefusesAnswersTheLogin) {
  factory_.parking = true;
  factory_.parked = std::make_unique<ParkedMailbox>(loop_, ErrorKind::Auth, scripted_live_);
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::Auth);
  EXPECT_EQ(factory_.created, 0) << "asking again at once would not help";
}

TEST_F(LoginFlowTest, DestroyingTheFlowCancelsTheLoginAtEveryStep) {
  // While the route is pending.
  start("alice", "secret");
  flow_.reset();
  run_loop_until(
      loop_, [] { return false; }, 20);
  EXPECT_EQ(handler_.outcomes, 0);
  EXPECT_EQ(factory_.created, 0);
  // While the upstream login is in flight.
  factory_.hang = true;
  start("alice", "secret");
  ASSERT_TRUE(run_loop_until(loop_, [&] { return scripted_live_ == 1; }));
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 1.0);
  EXPECT_EQ(governor_.open_sessions(alice_), 1u);
  flow_.reset();
  EXPECT_EQ(scripted_live_, 0);
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 0.0);
  EXPECT_EQ(governor_.open_sessions(alice_), 0u);
  run_loop_until(
      loop_, [] { return false; }, 20);
  EXPECT_EQ(handler_.outcomes, 0);
  EXPECT_EQ(locks_.held(), 0u);
}

// A lock table whose answer never comes (a shared store taking its time): the flow must give up
// the pending lock when it goes.
class PendingLockTable final : public MaildropLockTable {
 public:
  struct Pending final : PendingMaildropLock {
    explicit Pending(int& cancelled) : cancelled_(cancelled) {}
    ~Pending() override { ++cancelled_; }
    int& cancelled_;
  };
  PendingMaildropLockPtr acquire(const std::string& key, Done) override {
    keys.push_back(key);
    return std::make_unique<Pending>(cancelled);
  }
  std::vector<std::string> keys;
  int cancelled = 0;
};

TEST_F(LoginFlowTest, DestroyingTheFlowWhileTheLockIsTakenGivesUpTheLockAndTheMailbox) {
  PendingLockTable pending_locks;
  SessionContext waiting = context_with(pending_locks, throttle_, governor_);
  flow_ = std::make_unique<LoginFlow>(waiting, *config_, handler_, 7);
  flow_->start(
      LoginRequest{AuthMechanism::User, Credentials{"USER", "alice", SecretString("secret")}, "192.0.2.7"});
  ASSERT_TRUE(run_loop_until(loop_, [&] { return !pending_locks.keys.empty(); }));
  EXPECT_EQ(pending_locks.keys, std::vector<std::string>{"fake/alice"});
  EXPECT_EQ(handler_.actions.back(), "locking the maildrop");
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 1.0);
  flow_.reset();
  EXPECT_EQ(pending_locks.cancelled, 1);
  EXPECT_TRUE(run_loop_until(loop_, [&] { return upstream_.live_mailboxes == 0; }));
  EXPECT_EQ(gauge("popgate_upstream_connections_active{adapter=\"fake\"}"), 0.0);
  EXPECT_EQ(governor_.open_sessions(alice_), 0u);
  EXPECT_EQ(handler_.outcomes, 0);
}

// What other replicas counted, scripted: the answer comes when the test says.
class ScriptedSharedFailures final : public SharedLoginFailures {
 public:
  struct Pending final : PendingCheck {
    explicit Pending(int& cancelled) : cancelled_(cancelled) {}
    ~Pending() override { ++cancelled_; }
    int& cancelled_;
  };
  PendingCheckPtr check(const std::string& address, std::string_view user, const AuthThrottleSettings&,
                        Checked done) override {
    checked.push_back(address + " " + std::string(user));
    answer = std::move(done);
    return std::make_unique<Pending>(cancelled);
  }
  void record_failure(const std::string&, std::string_view user, const AuthThrottleSettings&) override {
    failures.emplace_back(user);
  }
  void record_success(std::string_view user) override { successes.emplace_back(user); }

  std::vector<std::string> checked, failures, successes;
  Checked answer;
  int cancelled = 0;
};

class SharedFailuresLoginFlowTest : public LoginFlowTest {
 protected:
  SharedFailuresLoginFlowTest() { metrics_.upstream("fake"); }  // the series the teardown reads
  void start_shared(std::string user, std::string password) {
    handler_.outcomes = 0;
    handler_.last.reset();
    flow_ = std::make_unique<LoginFlow>(shared_context_, *config_, handler_, 7);
    flow_->start(LoginRequest{AuthMechanism::User,
                              Credentials{"USER", std::move(user), SecretString(password)}, "192.0.2.7"});
  }
  ScriptedSharedFailures shared_;
  SessionContext shared_context_ = context_with(lock_table_, throttle_, governor_, {.login_failures = &shared_});
};

TEST_F(SharedFailuresLoginFlowTest, ANameLockedOutElsewhereIsRefusedWithoutAskingTheUpstream) {
  start_shared("alice", "secret");
  ASSERT_EQ(shared_.checked, std::vector<std::string>{"192.0.2.7 alice"});
  EXPECT_EQ(handler_.outcomes, 0) << "the login waits for the answer";
  shared_.answer(true);
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::LoginDelay);
  EXPECT_EQ(factory_.created, 0) << "nobody was asked";
}

TEST_F(SharedFailuresLoginFlowTest, FailuresAndSuccessesAreCountedForTheOtherReplicas) {
  start_shared("alice", "wrong");
  shared_.answer(false);
  ASSERT_TRUE(finish());
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::Auth);
  EXPECT_EQ(shared_.failures, std::vector<std::string>{"alice"});
  start_shared("alice", "secret");
  shared_.answer(false);
  ASSERT_TRUE(finish());
  ASSERT_NE(opened(), nullptr);
  EXPECT_EQ(shared_.successes, std::vector<std::string>{"alice"});
}

TEST_F(SharedFailuresLoginFlowTest, AStoreThatCannotSayRefusesWhenItMustAndIsCancelledWithTheFlow) {
  start_shared("alice", "secret");
  shared_.answer(make_error(ErrorKind::Temporary, "failed logins cannot be checked: refused"));
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::Temporary);
  EXPECT_EQ(factory_.created, 0);
  start_shared("alice", "secret");
  flow_.reset();
  run_loop_until(
      loop_, [] { return false; }, 20);
  EXPECT_EQ(shared_.cancelled, 2) << "the answered check went, and the one in flight with the flow";
  EXPECT_EQ(handler_.outcomes, 0);
}

// The other replicas' say on the upstream identity, scripted: the answer comes when the test says.
class ScriptedSharedGovernor final : public SharedIdentityGovernor {
 public:
  struct Pending final : PendingAdmission {
    explicit Pending(int& cancelled) : cancelled_(cancelled) {}
    ~Pending() override { ++cancelled_; }
    int& cancelled_;
  };
  PendingAdmissionPtr admit(const std::string& identity, const UpstreamGovernorSettings& settings,
                            Admitted done) override {
    asked.push_back(identity + " cap " + std::to_string(settings.max_sessions_per_identity));
    answer = std::move(done);
    return std::make_unique<Pending>(cancelled);
  }
  void record_backoff(const std::string& identity, uint64_t backoff_ms) override {
    backoffs.push_back(identity + " " + std::to_string(backoff_ms));
  }
  // Admitted, with a place that counts itself given back.
  IdentityGovernor::Admission place() {
    IdentityGovernor::Admission admission;
    admission.slot = IdentityGovernor::Slot([this] { ++places_given_back; });
    return admission;
  }
  static IdentityGovernor::Admission refusal(IdentityGovernor::Verdict verdict) {
    IdentityGovernor::Admission admission;
    admission.verdict = verdict;
    admission.wait_ms = 4'200;
    return admission;
  }

  std::vector<std::string> asked, backoffs;
  Admitted answer;
  int cancelled = 0;
  int places_given_back = 0;
};

class SharedGovernorLoginFlowTest : public LoginFlowTest {
 protected:
  SharedGovernorLoginFlowTest() {
    metrics_.upstream("fake");  // the series the teardown reads
    config_->max_upstream_sessions_per_identity = 2;
  }
  void start_shared(std::string user, std::string password) {
    handler_.outcomes = 0;
    handler_.last.reset();
    shared_.answer = nullptr;
    flow_ = std::make_unique<LoginFlow>(shared_context_, *config_, handler_, 7);
    flow_->start(LoginRequest{AuthMechanism::User,
                              Credentials{"USER", std::move(user), SecretString(password)}, "192.0.2.7"});
    // Routed (a tick later), then the other replicas are asked.
    ASSERT_TRUE(run_loop_until(loop_, [&] { return shared_.answer != nullptr; }));
  }
  ScriptedSharedGovernor shared_;
  SessionContext shared_context_ =
      context_with(lock_table_, throttle_, governor_, {.identity_governor = &shared_});
};

TEST_F(SharedGovernorLoginFlowTest, AdmittedEverywhereTheSessionHoldsBothPlacesAndGivesBothBack) {
  start_shared("alice", "secret");
  ASSERT_EQ(shared_.asked, std::vector<std::string>{alice_ + " cap 2"});
  EXPECT_EQ(handler_.outcomes, 0) << "the login waits for the answer";
  EXPECT_EQ(factory_.created, 0) << "the upstream waits for the other replicas' say";
  EXPECT_EQ(governor_.open_sessions(alice_), 1u) << "this replica's place is taken first";
  shared_.answer(shared_.place());
  ASSERT_TRUE(finish());
  ASSERT_NE(opened(), nullptr);
  EXPECT_EQ(factory_.created, 1);
  { OpenedMailbox done = std::move(*opened()); }
  handler_.last.reset();
  EXPECT_TRUE(run_loop_until(loop_, [&] { return shared_.places_given_back == 1; }));
  EXPECT_EQ(governor_.open_sessions(alice_), 0u);
}

TEST_F(SharedGovernorLoginFlowTest, CappedOrBackingOffElsewhereIsRefusedWithoutAskingTheUpstream) {
  start_shared("alice", "secret");
  shared_.answer(ScriptedSharedGovernor::refusal(IdentityGovernor::Verdict::Capped));
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::Temporary);
  EXPECT_EQ(governor_.open_sessions(alice_), 0u) << "this replica's place given back";
  start_shared("alice", "secret");
  shared_.answer(ScriptedSharedGovernor::refusal(IdentityGovernor::Verdict::BackingOff));
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::LoginDelay);
  EXPECT_EQ(factory_.created, 0) << "nobody was asked";
  EXPECT_EQ(gauge("popgate_upstream_sessions_capped_total"), 1.0);
  EXPECT_EQ(gauge("popgate_upstream_backoff_refusals_total"), 1.0);
}

TEST_F(SharedGovernorLoginFlowTest, AStoreThatCannotSayRefusesWhenItMustAndIsCancelledWithTheFlow) {
  start_shared("alice", "secret");
  shared_.answer(make_error(ErrorKind::Temporary, "the identity's sessions cannot be counted"));
  ASSERT_NE(refusal(), nullptr);
  EXPECT_EQ(refusal()->kind, ErrorKind::Temporary);
  EXPECT_EQ(governor_.open_sessions(alice_), 0u);
  start_shared("alice", "secret");
  flow_.reset();
  run_loop_until(
      loop_, [] { return false; }, 20);
  EXPECT_EQ(shared_.cancelled, 2) << "the answered admission went, and the one in flight with the flow";
  EXPECT_EQ(governor_.open_sessions(alice_), 0u);
  EXPECT_EQ(handler_.outcomes, 0);
  EXPECT_EQ(factory_.created, 0);
}

TEST_F(SharedGovernorLoginFlowTest, AThrottlingAnswerIsPassedOnForTheOtherReplicasToBackOff) {
  start_shared("alice", "secret");
  shared_.answer(shared_.place());
  ASSERT_TRUE(finish());
  Error throttled = make_error(ErrorKind::Temporary, "HTTP 429");
  throttled.retry_after_ms = 30'000;
  flow_->note_upstream_error(throttled);
  EXPECT_EQ(shared_.backoffs, std::vector<std::string>{alice_ + " 30000"});
}

TEST_F(LoginFlowTest, TheHandlerMayDestroyTheFlowInsideTheOutcome) {
  handler_.then = [&] { flow_.reset(); };
  start("alice", "wrong");  // refused from the mailbox's callback
  ASSERT_TRUE(finish());
  EXPECT_EQ(flow_, nullptr);
  config_->maildrop_lock = false;
  start("alice", "secret");  // handed over from the mailbox's callback
  ASSERT_TRUE(finish());
  EXPECT_EQ(flow_, nullptr);
  handler_.last.reset();
  config_->max_upstream_sessions_per_identity = 1;
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(opened(), nullptr);
  OpenedMailbox held = std::move(*opened());
  start("alice", "secret");  // refused by the governor from the router's callback
  ASSERT_TRUE(finish());
  EXPECT_EQ(flow_, nullptr);
  config_->max_upstream_sessions_per_identity = 0;  // bob's refused logins are his only limit
  for (int i = 0; i < 3; ++i) {
    start("bob", "wrong");
    ASSERT_TRUE(finish());
  }
  start("bob", "wrong");  // locked out: refused inside start()
  EXPECT_EQ(handler_.outcomes, 1);
  EXPECT_EQ(flow_, nullptr);
}

TEST_F(LoginFlowTest, AThrottlingAnswerAfterTheLoginBacksTheIdentityOff) {
  start("alice", "secret");
  ASSERT_TRUE(finish());
  ASSERT_NE(opened(), nullptr);
  // A failure that names no wait is not a throttling answer.
  flow_->note_upstream_error(make_error(ErrorKind::Temporary, "connection reset"));
  EXPECT_EQ(gauge("popgate_upstream_throttled_total{adapter=\"fake\"}"), 0.0);
  EXPECT_EQ(governor_.admit(alice_, loop_.now_ms(), {2, 60'000, 60'000}).verdict,
            IdentityGovernor::Verdict::Admitted);
  Error throttled = make_error(ErrorKind::Temporary, "HTTP 429");
  throttled.retry_after_ms = 30'000;
  flow_->note_upstream_error(throttled);
  EXPECT_EQ(gauge("popgate_upstream_throttled_total{adapter=\"fake\"}"), 1.0);
  EXPECT_EQ(governor_.admit(alice_, loop_.now_ms(), {2, 60'000, 60'000}).verdict,
            IdentityGovernor::Verdict::BackingOff);
}

TEST_F(LoginFlowTest, TheLogSaysWhyALoginWasRefusedAndNeverThePassword) {
  const log::Format previous = log::format();
  log::set_format(log::Format::Json);
  testing::CapturedStderr captured;
  start("alice", "hunter2");
  ASSERT_TRUE(finish());
  log::set_format(previous);
  std::vector<nlohmann::json> failed;
  for (const auto& line : captured.lines()) {
    EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (!entry.is_discarded() && entry.value("event", "") == "login_failed") failed.push_back(entry);
  }
  ASSERT_EQ(failed.size(), 1u) << captured.text();
  EXPECT_EQ(failed[0]["session"], 7);
  EXPECT_EQ(failed[0]["user"], "alice");
  EXPECT_EQ(failed[0]["class"], to_string(ErrorKind::Auth));
  EXPECT_EQ(failed[0]["reason"], "bad password");
}

TEST(LoginMechanism, PopServersNamesBecomeTheEnumAndTheCredentialsKind) {
  EXPECT_EQ(auth_mechanism("USER"), AuthMechanism::User);
  EXPECT_EQ(auth_mechanism("PLAIN"), AuthMechanism::Plain);
  EXPECT_EQ(auth_mechanism("XOAUTH2"), AuthMechanism::Xoauth2);
  EXPECT_EQ(auth_mechanism("OAUTHBEARER"), AuthMechanism::Oauthbearer);
  EXPECT_EQ(auth_mechanism("CRAM-MD5"), AuthMechanism::User);
  EXPECT_EQ(credential_kind(AuthMechanism::User), CredentialKind::Password);
  EXPECT_EQ(credential_kind(AuthMechanism::Plain), CredentialKind::Password);
  EXPECT_EQ(credential_kind(AuthMechanism::Xoauth2), CredentialKind::BearerToken);
  EXPECT_EQ(credential_kind(AuthMechanism::Oauthbearer), CredentialKind::BearerToken);
}

TEST_F(LoginFlowTest, NoOpLimitsNeitherThrottleNorGovern) {
  NoLoginThrottle no_throttle;
  NoIdentityGovernor no_governor;
  SessionContext unlimited = context_with(lock_table_, no_throttle, no_governor);
  config_->maildrop_lock = false;
  config_->max_upstream_sessions_per_identity = 1;
  auto login = [&](const char* password) {
    handler_.outcomes = 0;
    handler_.last.reset();
    flow_ = std::make_unique<LoginFlow>(unlimited, *config_, handler_, 7);
    flow_->start(
        LoginRequest{AuthMechanism::User, Credentials{"USER", "alice", SecretString(password)}, "x"});
    return finish();
  };
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(login("wrong"));
    ASSERT_NE(refusal(), nullptr);
    EXPECT_EQ(refusal()->kind, ErrorKind::Auth) << "never locked out: " << i;
    EXPECT_EQ(refusal()->delay_ms, std::optional<uint64_t>(100)) << "never a longer delay: " << i;
  }
  std::vector<OpenedMailbox> held;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(login("secret"));
    ASSERT_NE(opened(), nullptr) << "no cap: " << i;
    held.push_back(std::move(*opened()));
  }
  held.clear();
  handler_.last.reset();
  flow_.reset();
}

}  // namespace
}  // namespace popgate
