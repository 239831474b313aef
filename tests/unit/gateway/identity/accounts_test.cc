// The accounts file: schema errors name the entry, secrets come from files and the environment,
// OAuth2 identities need the resolver, and revoked devices are marked.
#include "gateway/identity/accounts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "gateway/identity/password_hash.h"
#include "gateway/identity/static_secret.h"

namespace popgate {
namespace {

constexpr const char* kHash = "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e";

std::string temp_path(const std::string& name) {
  return (::testing::TempDir().empty() ? std::string("/tmp/") : ::testing::TempDir()) + "popgate-accounts-" +
         std::to_string(getpid()) + "-" + name;
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

Result<AccountsPtr> parse(io::Loop& loop, const std::string& text,
                          const OAuth2ClientResolver& oauth2 = nullptr) {
  return Accounts::parse(loop, "accounts.json", text, oauth2);
}

std::string error_of(io::Loop& loop, const std::string& text) {
  auto parsed = parse(loop, text);
  EXPECT_FALSE(parsed) << text;
  return parsed ? "" : parsed.error().detail;
}

SecretString fetch_now(io::Loop& loop, CredentialSource& source) {
  std::optional<Result<SecretString>> got;
  auto pending = source.fetch([&](Result<SecretString> secret) { got.emplace(std::move(secret)); });
  EXPECT_FALSE(got.has_value()) << "answered inside the call";
  loop.run();
  EXPECT_TRUE(got.has_value() && got->ok());
  return got && got->ok() ? got->value() : SecretString();
}

TEST(Accounts, DevicesShareAnIdentityAndAreRevokedOneByOne) {
  io::Loop loop;
  const std::string secret = write_file("secret", "upstream-pass\n");
  auto accounts = parse(loop, R"({
    "identities": {"box": {"upstream": "imap://127.0.0.1:1143?tls=none", "user": "scans@example.com",
                           "secret_file": ")" +
                                  secret + R"("}},
    "accounts": {"scanner1": {"password_hash": ")" +
                                  std::string(kHash) + R"(", "identity": "box"},
                 "scanner2": {"password_hash": ")" +
                                  std::string(kHash) + R"(", "identity": "box", "revoked": true}}
  })");
  ASSERT_TRUE(accounts) << accounts.error().detail;
  const Accounts& a = *accounts.value();
  ASSERT_NE(a.find("scanner1"), nullptr);
  ASSERT_NE(a.find("scanner2"), nullptr);
  EXPECT_EQ(a.find("Scanner1"), nullptr);
  EXPECT_EQ(a.find("nobody"), nullptr);
  EXPECT_FALSE(a.find("scanner1")->revoked);
  EXPECT_TRUE(a.find("scanner2")->revoked);
  EXPECT_EQ(a.find("scanner1")->identity, a.find("scanner2")->identity);
  const UpstreamIdentity& box = *a.find("scanner1")->identity;
  EXPECT_EQ(box.user, "scans@example.com");
  ASSERT_TRUE(box.upstream);
  EXPECT_EQ(box.upstream->port, 1143);
  EXPECT_EQ(box.credentials->kind(), CredentialKind::Password);
  EXPECT_EQ(fetch_now(loop, *box.credentials).reveal(), "upstream-pass");  // one newline dropped
  EXPECT_EQ(a.dummy_hash(), kHash);  // the parameters every account uses
  std::remove(secret.c_str());
}

TEST(Accounts, SecretFromTheEnvironment) {
  io::Loop loop;
  setenv("POPGATE_TEST_IDENTITY_SECRET", "from-env", 1);
  auto accounts =
      parse(loop, R"({"identities": {"i": {"user": "u", "secret_env": "POPGATE_TEST_IDENTITY_SECRET"}},
                                  "accounts": {"a": {"password_hash": ")" +
                      std::string(kHash) + R"(", "identity": "i"}}})");
  unsetenv("POPGATE_TEST_IDENTITY_SECRET");
  ASSERT_TRUE(accounts) << accounts.error().detail;
  EXPECT_FALSE(accounts.value()->find("a")->identity->upstream);
  EXPECT_EQ(fetch_now(loop, *accounts.value()->find("a")->identity->credentials).reveal(), "from-env");
}

TEST(Accounts, WithoutAccountsTheDummyIsAYescryptSetting) {
  io::Loop loop;
  auto accounts = parse(loop, "{}");
  ASSERT_TRUE(accounts);
  EXPECT_EQ(accounts.value()->size(), 0u);
  EXPECT_TRUE(accounts.value()->dummy_hash().starts_with("$y$"));
}

TEST(Accounts, OAuth2IdentitiesNeedTheResolver) {
  io::Loop loop;
  const std::string text = R"({"identities": {"m365": {"user": "box@corp.example", "oauth2": "corp"}}})";
  EXPECT_NE(error_of(loop, text).find("identity 'm365': oauth2 'corp': OAuth2 clients are not configured"),
            std::string::npos);

  class Token final : public CredentialSource {
   public:
    PendingFetchPtr fetch(Done) override { return nullptr; }
    CredentialKind kind() const override { return CredentialKind::BearerToken; }
  };
  std::vector<std::string> asked;
  auto resolver = [&](const std::string& client) -> Result<CredentialSourcePtr> {
    asked.push_back(client);
    if (client != "corp") return make_error(ErrorKind::Permanent, "no such client");
    return CredentialSourcePtr(std::make_shared<Token>());
  };
  auto accounts = parse(loop, text, resolver);
  ASSERT_TRUE(accounts) << accounts.error().detail;
  EXPECT_EQ(asked, std::vector<std::string>{"corp"});
  auto other = parse(loop, R"({"identities": {"x": {"user": "u", "oauth2": "elsewhere"}}})", resolver);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().detail.find("identity 'x': oauth2 'elsewhere': no such client"), std::string::npos);
}

TEST(Accounts, SchemaErrorsNameTheFileAndTheEntry) {
  io::Loop loop;
  const std::string hash = kHash;
  struct Case {
    std::string text;
    std::string says;
  };
  const Case cases[] = {
      {"not json", "accounts: accounts.json: not valid JSON"},
      {"[]", "the top level must be an object"},
      {R"({"users": {}})", "top level: unknown field 'users'"},
      {R"({"identities": {"i": {"user": "u"}}})", "identity 'i': needs exactly one of"},
      {R"({"identities": {"i": {"user": "u", "secret_env": "A", "secret_file": "/x"}}})",
       "identity 'i': needs exactly one of"},
      {R"({"identities": {"i": {"secret_env": "HOME"}}})", "identity 'i': 'user' is missing"},
      {R"({"identities": {"i": {"user": "u", "secret_env": "HOME", "password": "x"}}})",
       "identity 'i': unknown field 'password'"},
      {R"({"identities": {"i": {"user": "u", "secret_env": "POPGATE_TEST_UNSET_VARIABLE"}}})",
       "identity 'i': secret_env: environment variable POPGATE_TEST_UNSET_VARIABLE is not set"},
      {R"({"identities": {"i": {"user": "u", "secret_file": "/nonexistent/secret"}}})",
       "identity 'i': secret_file: cannot read /nonexistent/secret"},
      {R"({"identities": {"i": {"upstream": "pop3://x", "user": "u", "secret_env": "HOME"}}})",
       "identity 'i': upstream: scheme must be"},
      {R"({"accounts": {"a": {"password_hash": ")" + hash + R"(", "identity": "none"}}})",
       "account 'a': identity 'none' is not defined"},
      {R"({"identities": {"i": {"user": "u", "secret_env": "HOME"}},
           "accounts": {"a": {"password_hash": "$1$saltsalt$NuzA7WTAelpl95xgBGWN60", "identity": "i"}}})",
       "account 'a': password_hash: MD5-crypt is too weak"},
      {R"({"identities": {"i": {"user": "u", "secret_env": "HOME"}},
           "accounts": {"a": {"identity": "i"}}})",
       "account 'a': 'password_hash' is missing"},
      {R"({"identities": {"i": {"user": "u", "secret_env": "HOME"}},
           "accounts": {"a": {"password_hash": ")" +
           hash + R"(", "identity": "i", "revoked": "yes"}}})",
       "account 'a': 'revoked' must be true or false"},
  };
  for (const auto& c : cases) {
    const std::string error = error_of(loop, c.text);
    EXPECT_NE(error.find(c.says), std::string::npos) << c.text << "\n  gave: " << error;
    EXPECT_TRUE(error.starts_with("accounts: accounts.json: ")) << error;
  }
  auto missing = Accounts::load(loop, "/nonexistent/accounts.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().detail, "accounts: cannot read /nonexistent/accounts.json");
}

TEST(StaticSecret, EmptyFileIsAnErrorAndCrLfIsDropped) {
  const std::string empty = write_file("empty", "\n");
  EXPECT_FALSE(read_secret_file(empty));
  const std::string crlf = write_file("crlf", "pass\r\n");
  EXPECT_EQ(read_secret_file(crlf).value().reveal(), "pass");
  std::remove(empty.c_str());
  std::remove(crlf.c_str());
}

}  // namespace
}  // namespace popgate
