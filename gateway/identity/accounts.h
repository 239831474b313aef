// Accounts: the local logins of the accounts file and the upstream identities they stand for.
//
// {"identities": {"NAME": {"upstream": "imaps://...", "user": "...",
//                          "secret_file": "..." | "secret_env": "..." | "oauth2": "CLIENT"}},
//  "accounts":   {"LOGIN": {"password_hash": "$y$...", "identity": "NAME", "revoked": false}}}
// Many logins (devices) may name one identity; each is revoked on its own.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gateway/config/config.h"
#include "gateway/identity/credential_source.h"
#include "gateway/io/loop.h"
#include "protocol/common/result.h"

namespace popgate {

struct UpstreamIdentity {
  std::string name;
  std::optional<UpstreamUrl> upstream;  // absent: the route's upstream
  std::string user;                     // the login presented upstream
  CredentialSourcePtr credentials;
};

struct LocalAccount {
  std::string login;
  std::string password_hash;  // crypt(3): yescrypt, bcrypt or sha512-crypt
  const UpstreamIdentity* identity = nullptr;
  bool revoked = false;
};

class Accounts {
 public:
  // Blocking (start-up and SIGHUP): reads and checks the file, and every secret_file and
  // secret_env it names. Errors (Permanent) name the file and the entry. Without `oauth2`, an
  // identity naming an OAuth2 client is an error ("OAuth2 clients are not configured").
  static Result<std::shared_ptr<const Accounts>> load(io::Loop& loop, const std::string& path,
                                                      const OAuth2ClientResolver& oauth2 = nullptr);
  // The same from the file's text (`path` only names it in errors).
  static Result<std::shared_ptr<const Accounts>> parse(io::Loop& loop, const std::string& path,
                                                       const std::string& text,
                                                       const OAuth2ClientResolver& oauth2 = nullptr);

  // Null for an unknown login. Logins are compared exactly.
  const LocalAccount* find(std::string_view login) const;
  // A hash with the method and cost most of the accounts use, checked for a login that has no
  // account, so that its refusal takes as long as a wrong password's.
  const std::string& dummy_hash() const { return dummy_hash_; }
  size_t size() const { return accounts_.size(); }
  std::vector<const UpstreamIdentity*> identities() const;

 private:
  std::map<std::string, UpstreamIdentity, std::less<>> identities_;
  std::map<std::string, LocalAccount, std::less<>> accounts_;
  std::string dummy_hash_;
};

using AccountsPtr = std::shared_ptr<const Accounts>;

}  // namespace popgate
