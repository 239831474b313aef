// LoginRouter: route matching, and the two ways of turning a login into upstream credentials.
#include "gateway/identity/login_router.h"

#include "gateway/upstream/mailbox_factory.h"
#include "protocol/common/ascii.h"

namespace popgate {
namespace {

// Answers on the next tick (passthrough needs no work, but answers never come inside the call).
class DeferredRoute final : public PendingRoute {
 public:
  explicit DeferredRoute(std::shared_ptr<LoginRouter::Done> done) : done_(std::move(done)) {}
  ~DeferredRoute() override { *done_ = nullptr; }

 private:
  std::shared_ptr<LoginRouter::Done> done_;
};

PendingRoutePtr answer_later(io::Loop& loop, Result<RoutedLogin> result, LoginRouter::Done done) {
  auto shared = std::make_shared<LoginRouter::Done>(std::move(done));
  loop.defer([shared, result = std::make_shared<Result<RoutedLogin>>(std::move(result))]() mutable {
    LoginRouter::Done answer = std::move(*shared);
    *shared = nullptr;
    if (answer) answer(std::move(*result));
  });
  return std::make_unique<DeferredRoute>(std::move(shared));
}

// One local-accounts login: the password check on the threadpool, then the identity's
// credential. Owned by the session through its PendingRoutePtr; destroying it cancels both.
class LocalLogin final : public PendingRoute {
 public:
  LocalLogin(const Route& route, AccountsPtr accounts, Credentials login, LoginRouter::Done done)
      : route_(route), accounts_(std::move(accounts)), login_(std::move(login)), done_(std::move(done)) {}

  void start(PasswordVerifier& verifier) {
    const LocalAccount* account = accounts_->find(login_.user);
    SecretString password = std::move(login_.password);
    if (account == nullptr || account->revoked) {
      // One hash all the same (the account's own, or a dummy of the usual cost), then no.
      std::string reason = account == nullptr ? "no such local account" : "local account revoked";
      verification_ = verifier.verify_and_refuse(
          std::move(password), account ? account->password_hash : accounts_->dummy_hash(),
          [this, reason](bool) { answer(make_error(ErrorKind::Auth, reason)); });
      return;
    }
    verification_ =
        verifier.verify(std::move(password), account->password_hash, [this, account](bool matches) {
          if (!matches) return answer(make_error(ErrorKind::Auth, "wrong password for a local account"));
          fetch_credential(*account->identity);
        });
  }

 private:
  void fetch_credential(const UpstreamIdentity& identity) {
    fetch_ = identity.credentials->fetch([this, &identity](Result<SecretString> secret) {
      if (!secret) {
        Error error = secret.error();
        // Whatever the source said, the client hears [SYS/TEMP] or [LOGIN-DELAY], never [AUTH]:
        // its own password was right.
        if (error.kind != ErrorKind::LoginDelay) error.kind = ErrorKind::Temporary;
        error.detail = "identity '" + identity.name + "': " + error.detail;
        return answer(std::move(error));
      }
      std::shared_ptr<MailboxFactory> mailboxes = route_.mailboxes;
      if (identity.upstream) {
        auto it = route_.identity_mailboxes.find(identity.upstream->to_string());
        if (it == route_.identity_mailboxes.end()) {
          return answer(make_error(ErrorKind::Internal, "no factory for identity '" + identity.name + "'"));
        }
        mailboxes = it->second;
      }
      RoutedLogin routed{std::move(mailboxes),
                         Credentials{login_.mechanism, identity.user, std::move(secret).value(),
                                     identity.credentials->kind()},
                         route_.match, identity.name};
      answer(std::move(routed));
    });
  }

  void answer(Result<RoutedLogin> result) {
    // Moved out first: the callback may destroy this object. Nothing touches it afterwards.
    LoginRouter::Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(result));
  }

  const Route& route_;    // the router's, which the session keeps alive
  AccountsPtr accounts_;  // keeps the account and its identity alive
  Credentials login_;
  LoginRouter::Done done_;
  PendingVerificationPtr verification_;
  PendingFetchPtr fetch_;
};

// A Config whose upstream settings are the route's (and `upstream`, when an identity has its own).
Config route_settings(const Config& base, const RouteConfig& route) {
  Config settings = base;
  copy_route_settings(route, settings);
  return settings;
}

RouteConfig top_level_route(const Config& config) {
  RouteConfig route;
  route.match = "default";
  route.mode = config.auth_mode.value_or(config.accounts_file.empty() ? AuthMode::Passthrough
                                                                      : AuthMode::LocalAccounts);
  copy_route_settings(config, route);
  return route;
}

Result<Route> build_route(io::Loop& loop, const Config& config, const RouteConfig& rule,
                          const Accounts* accounts) {
  const std::string where = rule.match == "default" ? "the top-level upstream" : "route '" + rule.match + "'";
  Route route;
  route.match = rule.match;
  route.mode = rule.mode;
  Config settings = route_settings(config, rule);
  auto made = make_mailbox_factory(loop, settings);
  if (!made) return make_error(ErrorKind::Permanent, where + ": " + made.error().detail);
  route.mailboxes = std::move(made).value();
  if (rule.mode == AuthMode::LocalAccounts && accounts != nullptr) {
    for (const UpstreamIdentity* identity : accounts->identities()) {
      if (!identity->upstream) continue;
      const std::string key = identity->upstream->to_string();
      if (route.identity_mailboxes.contains(key)) continue;
      Config own = settings;
      own.upstream = *identity->upstream;
      auto factory = make_mailbox_factory(loop, own);
      if (!factory) {
        return make_error(ErrorKind::Permanent,
                          where + ", identity '" + identity->name + "': " + factory.error().detail);
      }
      route.identity_mailboxes.emplace(key, std::move(factory).value());
    }
  }
  return route;
}

}  // namespace

LoginRouter::LoginRouter(io::Loop& loop, std::vector<Route> rules, Route fallback, AccountsPtr accounts,
                         std::shared_ptr<PasswordVerifier> verifier)
    : loop_(loop),
      rules_(std::move(rules)),
      fallback_(std::move(fallback)),
      accounts_(std::move(accounts)),
      verifier_(std::move(verifier)) {}

const Route& LoginRouter::route_for(std::string_view user) const {
  for (const Route& rule : rules_) {
    if (rule.match == user) return rule;
  }
  if (auto at = user.rfind('@'); at != std::string_view::npos) {
    std::string_view domain = user.substr(at + 1);
    for (const Route& rule : rules_) {
      if (rule.match.starts_with("*@") && ascii::iequals(std::string_view(rule.match).substr(2), domain)) {
        return rule;
      }
    }
  }
  for (const Route& rule : rules_) {
    if (rule.match == "*") return rule;
  }
  return fallback_;
}

PendingRoutePtr LoginRouter::resolve(Credentials login, Done done) {
  const Route& route = route_for(login.user);
  if (route.mode == AuthMode::Passthrough) {
    return answer_later(loop_, RoutedLogin{route.mailboxes, std::move(login), route.match, {}},
                        std::move(done));
  }
  if (!accounts_ || !verifier_) {
    // make_login_router refuses such a configuration; a hand-built router might not.
    return answer_later(loop_, make_error(ErrorKind::Internal, "local accounts are not loaded"),
                        std::move(done));
  }
  auto local = std::make_unique<LocalLogin>(route, accounts_, std::move(login), std::move(done));
  local->start(*verifier_);
  return local;
}

LoginRouterPtr make_passthrough_router(io::Loop& loop, MailboxFactory& mailboxes) {
  Route fallback;
  fallback.match = "default";
  fallback.mode = AuthMode::Passthrough;
  // Not owned (the aliasing constructor with no owner): the caller keeps the factory.
  fallback.mailboxes = std::shared_ptr<MailboxFactory>(std::shared_ptr<MailboxFactory>(), &mailboxes);
  return std::make_shared<LoginRouter>(loop, std::vector<Route>{}, std::move(fallback), nullptr, nullptr);
}

Result<LoginRouterPtr> make_login_router(io::Loop& loop, const Config& config,
                                         const OAuth2ClientResolver& oauth2,
                                         std::shared_ptr<PasswordVerifier> verifier) {
  AccountsPtr accounts;
  if (!config.accounts_file.empty()) {
    auto loaded = Accounts::load(loop, config.accounts_file, oauth2);
    if (!loaded) return loaded.error();
    accounts = std::move(loaded).value();
  }
  std::vector<Route> rules;
  for (const RouteConfig& rule : config.routes) {
    auto route = build_route(loop, config, rule, accounts.get());
    if (!route) return route.error();
    rules.push_back(std::move(route).value());
  }
  auto fallback = build_route(loop, config, top_level_route(config), accounts.get());
  if (!fallback) return fallback.error();
  if (accounts && !verifier) verifier = std::make_shared<PasswordVerifier>(loop);
  return std::make_shared<LoginRouter>(loop, std::move(rules), std::move(fallback).value(),
                                       std::move(accounts), std::move(verifier));
}

}  // namespace popgate
