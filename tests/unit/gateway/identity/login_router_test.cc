// LoginRouter: rule matching (exact, *@domain, *, the top-level default), routes from the config
// file, and what passthrough and local-accounts logins resolve to.
#include "gateway/identity/login_router.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace popgate {
namespace {

constexpr const char* kHash =
    "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e";  // "correct horse"

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = "/tmp/popgate-router-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

Config parse_with_file(const std::string& json, std::vector<const char*> extra = {}) {
  const std::string path = write_temp("config.json", json);
  std::vector<const char*> argv{"popgate", "--config", path.c_str()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Config config;
  std::string out;
  try {
    parse_command_line(static_cast<int>(argv.size()), argv.data(), config, out);
  } catch (...) {
    std::remove(path.c_str());
    throw;
  }
  std::remove(path.c_str());
  return config;
}

std::string config_error(const std::string& json, std::vector<const char*> extra = {}) {
  try {
    parse_with_file(json, std::move(extra));
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(RouteConfig, RoutesInheritTheTopLevelAndOverrideTheirOwnFields) {
  Config config = parse_with_file(R"({
    "upstream": "imap://127.0.0.1:143?tls=none", "mailbox": "Scans", "delete_mode": "keep",
    "routes": [
      {"match": "*@a.example", "upstream": "imaps://mail.a.example", "delete_mode": "move:Trash",
       "mark_seen": true},
      {"match": "boss@b.example", "upstream_insecure": true, "mailbox": "INBOX"},
      {"match": "*", "mode": "passthrough"}
    ]})",
                                  {"--mailbox", "FromCli"});
  ASSERT_EQ(config.routes.size(), 3u);
  const RouteConfig& a = config.routes[0];
  EXPECT_EQ(a.match, "*@a.example");
  EXPECT_EQ(a.upstream.scheme, "imaps");
  EXPECT_EQ(a.upstream.host, "mail.a.example");
  EXPECT_EQ(a.delete_mode, DeleteMode::Move);
  EXPECT_EQ(a.move_target, "Trash");
  EXPECT_TRUE(a.mark_seen);
  EXPECT_EQ(a.mailbox, "FromCli");  // inherited after the command line applied
  const RouteConfig& boss = config.routes[1];
  EXPECT_EQ(boss.upstream.port, 143);
  EXPECT_TRUE(boss.upstream_insecure);
  EXPECT_EQ(boss.mailbox, "INBOX");
  EXPECT_EQ(boss.delete_mode, DeleteMode::Keep);
  EXPECT_EQ(config.routes[2].mode, AuthMode::Passthrough);
}

TEST(RouteConfig, ErrorsNameTheRoute) {
  const std::string upstream = R"("upstream": "imap://127.0.0.1:143?tls=none", )";
  EXPECT_EQ(config_error("{" + upstream + R"("routes": {}})"),
            "config: field 'routes' must be an array of objects");
  EXPECT_EQ(config_error("{" + upstream + R"("routes": [{"upstream": "imap://x"}]})"),
            "config: routes[0]: 'match' (a string) is missing");
  EXPECT_NE(
      config_error("{" + upstream + R"("routes": [{"match": "a*@b"}]})").find("routes[0]: 'match' must be"),
      std::string::npos);
  EXPECT_NE(config_error("{" + upstream + R"("routes": [{"match": "*@"}]})").find("'match' must be"),
            std::string::npos);
  EXPECT_EQ(config_error("{" + upstream + R"("routes": [{"match": "*"}, {"match": "*"}]})"),
            "config: routes[1]: an earlier route has the same match '*'");
  EXPECT_EQ(config_error("{" + upstream + R"("routes": [{"match": "*", "idle_timeout": 5}]})"),
            "config: routes[0]: unknown or not per-route field 'idle_timeout'");
  EXPECT_NE(config_error("{" + upstream + R"("routes": [{"match": "*", "upstream": "pop3://x"}]})")
                .find("config: routes[0]: field 'upstream': scheme must be"),
            std::string::npos);
  EXPECT_EQ(config_error("{" + upstream + R"("routes": [{"match": "*", "mode": "local-accounts"}]})"),
            "config: route '*': mode local-accounts needs --accounts FILE");
  EXPECT_NE(config_error("{" + upstream + R"("routes": [{"match": "*", "mode": "sometimes"}]})")
                .find("expected passthrough or local-accounts"),
            std::string::npos);
  EXPECT_EQ(config_error("{" + upstream + R"("auth_mode": "local-accounts"})"),
            "auth-mode: local-accounts needs --accounts FILE");
}

Config routing_config() {
  return parse_with_file(R"({
    "upstream": "imap://127.0.0.1:1?tls=none",
    "routes": [
      {"match": "*@a.example", "upstream": "imap://127.0.0.1:2?tls=none"},
      {"match": "vip@a.example", "upstream": "imap://127.0.0.1:3?tls=none"},
      {"match": "*@b.example", "upstream": "jmap://127.0.0.1:4"}
    ]})");
}

TEST(LoginRouter, ExactBeatsDomainBeatsStarBeatsTheDefault) {
  io::Loop loop;
  auto router = make_login_router(loop, routing_config());
  ASSERT_TRUE(router) << router.error().detail;
  const LoginRouter& r = *router.value();
  EXPECT_EQ(r.route_for("vip@a.example").match, "vip@a.example");
  EXPECT_EQ(r.route_for("joe@a.example").match, "*@a.example");
  EXPECT_EQ(r.route_for("joe@A.EXAMPLE").match, "*@a.example");  // domains without case
  EXPECT_EQ(r.route_for("VIP@a.example").match, "*@a.example");  // logins exactly
  EXPECT_EQ(r.route_for("joe@b.example").match, "*@b.example");
  EXPECT_EQ(r.route_for("joe@sub.a.example").match, "default");
  EXPECT_EQ(r.route_for("a.example").match, "default");
  EXPECT_EQ(r.route_for("joe@c.example").match, "default");
  EXPECT_EQ(r.route_for("").match, "default");
  EXPECT_EQ(r.route_for("joe@b.example").mailboxes->create()->kind(), "jmap");
  EXPECT_EQ(r.route_for("joe@a.example").mailboxes->create()->kind(), "imap");

  Config with_star = routing_config();
  with_star.routes.push_back(RouteConfig{"*", AuthMode::Passthrough, with_star.upstream});
  auto starred = make_login_router(loop, with_star);
  ASSERT_TRUE(starred);
  EXPECT_EQ(starred.value()->route_for("joe@c.example").match, "*");
  EXPECT_EQ(starred.value()->route_for("vip@a.example").match, "vip@a.example");
}

TEST(LoginRouter, AnUnreadableCaFileNamesTheRoute) {
  io::Loop loop;
  Config config = routing_config();
  config.routes[0].upstream = parse_upstream_url("imaps://127.0.0.1:2");
  config.routes[0].upstream_ca = "/nonexistent/ca.pem";
  auto router = make_login_router(loop, config);
  ASSERT_FALSE(router);
  EXPECT_TRUE(router.error().detail.starts_with("route '*@a.example': ")) << router.error().detail;
}

Result<RoutedLogin> resolve_now(io::Loop& loop, LoginRouter& router, std::string user, std::string password) {
  std::optional<Result<RoutedLogin>> got;
  auto pending = router.resolve(Credentials{"USER", std::move(user), SecretString(password)},
                                [&](Result<RoutedLogin> routed) { got.emplace(std::move(routed)); });
  EXPECT_FALSE(got.has_value()) << "answered inside the call";
  loop.run();
  EXPECT_TRUE(got.has_value());
  return got ? std::move(*got) : Result<RoutedLogin>(make_error(ErrorKind::Internal, "no answer"));
}

TEST(LoginRouter, PassthroughHandsOnTheClientsOwnCredentials) {
  io::Loop loop;
  auto router = make_login_router(loop, routing_config());
  ASSERT_TRUE(router);
  auto routed = resolve_now(loop, *router.value(), "joe@b.example", "joes password");
  ASSERT_TRUE(routed);
  EXPECT_EQ(routed.value().route, "*@b.example");
  EXPECT_EQ(routed.value().credentials.user, "joe@b.example");
  EXPECT_EQ(routed.value().credentials.password.reveal(), "joes password");
  EXPECT_EQ(routed.value().mailboxes.get(), router.value()->route_for("joe@b.example").mailboxes.get());
}

// A factory whose mailboxes are never opened: only which factory a login went to matters.
class UnusedFactory final : public MailboxFactory {
 public:
  MailboxPtr create() override { return nullptr; }
};

TEST(LoginRouter, APassthroughRouterSendsEveryLoginToItsOneFactory) {
  io::Loop loop;
  UnusedFactory factory;
  LoginRouterPtr router = make_passthrough_router(loop, factory);
  EXPECT_EQ(&router->default_mailboxes(), &factory);
  for (const char* user : {"joe@b.example", "vip@a.example", ""}) {
    auto routed = resolve_now(loop, *router, user, "pw");
    ASSERT_TRUE(routed) << user;
    EXPECT_EQ(routed.value().route, "default");
    EXPECT_EQ(routed.value().identity, "");
    EXPECT_EQ(routed.value().credentials.user, user);
    EXPECT_EQ(routed.value().credentials.password.reveal(), "pw");
    EXPECT_EQ(routed.value().mailboxes.get(), &factory);
  }
  // Not owned: the router's going leaves the factory alone.
  router.reset();
  EXPECT_EQ(factory.create(), nullptr);
}

class LocalAccountsRouting : public ::testing::Test {
 protected:
  LocalAccountsRouting() {
    secret_ = write_temp("secret", "upstream secret");
    accounts_ =
        write_temp("accounts.json", R"({
      "identities": {"box": {"user": "scans@a.example", "secret_file": ")" +
                                        secret_ + R"("},
                     "elsewhere": {"upstream": "imap://127.0.0.1:9?tls=none", "user": "far", "secret_file": ")" +
                                        secret_ + R"("}},
      "accounts": {"scanner1": {"password_hash": ")" +
                                        std::string(kHash) + R"(", "identity": "box"},
                   "scanner2": {"password_hash": ")" +
                                        std::string(kHash) + R"(", "identity": "box", "revoked": true},
                   "roamer": {"password_hash": ")" +
                                        std::string(kHash) + R"(", "identity": "elsewhere"}}})");
    config_ = parse_with_file(R"({
      "upstream": "imap://127.0.0.1:1?tls=none", "accounts_file": ")" +
                              accounts_ + R"(",
      "routes": [{"match": "*@a.example", "upstream": "imap://127.0.0.1:2?tls=none", "mode": "passthrough"}]})");
    verifier_ = std::make_shared<PasswordVerifier>(loop_);
    auto router = make_login_router(loop_, config_, nullptr, verifier_);
    EXPECT_TRUE(router) << (router ? "" : router.error().detail);
    if (router) router_ = std::move(router).value();
  }
  ~LocalAccountsRouting() override {
    std::remove(secret_.c_str());
    std::remove(accounts_.c_str());
  }

  io::Loop loop_;
  std::string secret_, accounts_;
  Config config_;
  std::shared_ptr<PasswordVerifier> verifier_;
  LoginRouterPtr router_;
};

TEST_F(LocalAccountsRouting, RightPasswordBecomesTheIdentitysLogin) {
  ASSERT_TRUE(router_);
  EXPECT_EQ(router_->route_for("scanner1").mode, AuthMode::LocalAccounts);  // default with --accounts
  auto routed = resolve_now(loop_, *router_, "scanner1", "correct horse");
  ASSERT_TRUE(routed) << routed.error().detail;
  EXPECT_EQ(routed.value().identity, "box");
  EXPECT_EQ(routed.value().credentials.user, "scans@a.example");
  EXPECT_EQ(routed.value().credentials.password.reveal(), "upstream secret");
  EXPECT_EQ(routed.value().credentials.kind, CredentialKind::Password);
  EXPECT_EQ(routed.value().mailboxes.get(), router_->route_for("scanner1").mailboxes.get());
  EXPECT_EQ(verifier_->hashes_computed(), 1u);
}

TEST_F(LocalAccountsRouting, AnIdentityWithItsOwnUpstreamGetsItsOwnFactory) {
  ASSERT_TRUE(router_);
  auto routed = resolve_now(loop_, *router_, "roamer", "correct horse");
  ASSERT_TRUE(routed) << routed.error().detail;
  EXPECT_EQ(routed.value().credentials.user, "far");
  EXPECT_NE(routed.value().mailboxes.get(), router_->route_for("roamer").mailboxes.get());
}

TEST_F(LocalAccountsRouting, WrongPasswordUnknownAndRevokedAreAuthAfterOneHashEach) {
  ASSERT_TRUE(router_);
  for (const char* user : {"scanner1", "nobody", "scanner2"}) {
    const uint64_t before = verifier_->hashes_computed();
    // scanner2's right password: revoked all the same.
    auto routed =
        resolve_now(loop_, *router_, user, std::string(user) == "scanner1" ? "wrong" : "correct horse");
    ASSERT_FALSE(routed) << user;
    EXPECT_EQ(routed.error().kind, ErrorKind::Auth) << user;
    EXPECT_EQ(verifier_->hashes_computed(), before + 1) << user;
  }
}

TEST_F(LocalAccountsRouting, PassthroughRoutesStillPassThrough) {
  ASSERT_TRUE(router_);
  auto routed = resolve_now(loop_, *router_, "joe@a.example", "anything");
  ASSERT_TRUE(routed);
  EXPECT_EQ(routed.value().credentials.user, "joe@a.example");
  EXPECT_EQ(verifier_->hashes_computed(), 0u);
}

TEST_F(LocalAccountsRouting, DestroyingTheHandleCancels) {
  ASSERT_TRUE(router_);
  bool answered = false;
  auto pending = router_->resolve(Credentials{"USER", "scanner1", SecretString("correct horse")},
                                  [&](Result<RoutedLogin>) { answered = true; });
  pending.reset();
  loop_.run();
  EXPECT_FALSE(answered);
}

}  // namespace
}  // namespace popgate
