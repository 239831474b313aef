// LoginRouter: which upstream a POP3 login goes to, and with which credentials.
//
// Routing rules (the config file's "routes") pick a route by login: an exact login first, then
// "*@domain", then "*", then the top-level settings (--upstream and friends). A passthrough
// route hands the client's own credentials to its upstream; a local-accounts route checks the
// password against the accounts file and logs in upstream as the account's identity.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/mailbox.h"
#include "gateway/config/config.h"
#include "gateway/identity/accounts.h"
#include "gateway/identity/password_verifier.h"
#include "gateway/io/loop.h"
#include "protocol/common/result.h"

namespace popgate {

// What a login resolved to.
struct RoutedLogin {
  std::shared_ptr<MailboxFactory> mailboxes;  // the route's adapter, upstream and settings
  Credentials credentials;                    // what to present upstream
  std::string route;                          // the rule's match ("*@example.com"), for logs
  std::string identity;                       // local accounts: the identity's name, for logs
};

// Destroying it cancels the resolution: its callback never runs afterwards.
class PendingRoute {
 public:
  virtual ~PendingRoute() = default;
};
using PendingRoutePtr = std::unique_ptr<PendingRoute>;

struct Route {
  std::string match;  // "user", "*@domain", "*"; "default" for the top-level settings
  AuthMode mode = AuthMode::Passthrough;
  std::shared_ptr<MailboxFactory> mailboxes;  // for the route's own upstream
  // Local accounts: for identities with an upstream of their own, by UpstreamUrl::to_string().
  std::map<std::string, std::shared_ptr<MailboxFactory>> identity_mailboxes;
};

class LoginRouter {
 public:
  using Done = std::function<void(Result<RoutedLogin>)>;

  // `accounts` and `verifier` may be null when no route uses local accounts.
  LoginRouter(io::Loop& loop, std::vector<Route> rules, Route fallback, AccountsPtr accounts,
              std::shared_ptr<PasswordVerifier> verifier);

  // The route for `user`: exact, then *@domain (the domain compared without case), then *,
  // then the fallback.
  const Route& route_for(std::string_view user) const;

  // Runs `done` once, later, on the loop thread, unless the handle is destroyed first. Errors:
  // Auth for a wrong local password or an unknown or revoked local login (after the same one
  // hash as a wrong password), Temporary or LoginDelay when the identity's credential could not
  // be fetched.
  PendingRoutePtr resolve(Credentials login, Done done);

  // The top-level route's factory (what sessions used before routing rules).
  MailboxFactory& default_mailboxes() const { return *fallback_.mailboxes; }
  const AccountsPtr& accounts() const { return accounts_; }

 private:
  io::Loop& loop_;
  std::vector<Route> rules_;
  Route fallback_;
  AccountsPtr accounts_;
  std::shared_ptr<PasswordVerifier> verifier_;
};

using LoginRouterPtr = std::shared_ptr<LoginRouter>;

// Every login to `mailboxes` with the client's own credentials, as the top-level route ("default")
// of a configuration without rules or local accounts: the router of a service given one factory
// (and of tests). Answers on the next tick, like any passthrough route. `mailboxes` must outlive
// the router and the logins it routes.
LoginRouterPtr make_passthrough_router(io::Loop& loop, MailboxFactory& mailboxes);

// Builds the routes' factories (reading CA files) and loads the accounts file: blocking, for
// start-up, --check-config and SIGHUP. An Error (Permanent) names the route or the file.
// `verifier` may be shared by successive routers (null: a new one).
Result<LoginRouterPtr> make_login_router(io::Loop& loop, const Config& config,
                                         const OAuth2ClientResolver& oauth2 = nullptr,
                                         std::shared_ptr<PasswordVerifier> verifier = nullptr);

}  // namespace popgate
