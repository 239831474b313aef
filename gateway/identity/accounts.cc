// Reading and checking the accounts file.
#include "gateway/identity/accounts.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gateway/identity/password_hash.h"
#include "gateway/identity/static_secret.h"

namespace popgate {
namespace {

// Thrown inside parse(), turned into its Error.
struct AccountsError {
  std::string what;
};

void only_fields(const nlohmann::json& object, std::initializer_list<std::string_view> allowed,
                 const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto name : allowed) known = known || key == name;
    if (!known) throw AccountsError{where + ": unknown field '" + key + "'"};
  }
}

std::string string_field(const nlohmann::json& object, const char* key, const std::string& where,
                         bool required = true) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) throw AccountsError{where + ": '" + key + "' is missing"};
    return {};
  }
  if (!it->is_string() || it->get<std::string>().empty()) {
    throw AccountsError{where + ": '" + key + "' must be a non-empty string"};
  }
  return it->get<std::string>();
}

CredentialSourcePtr credential_source(io::Loop& loop, const nlohmann::json& entry, const std::string& where,
                                      const OAuth2ClientResolver& oauth2) {
  const std::string file = string_field(entry, "secret_file", where, false);
  const std::string env = string_field(entry, "secret_env", where, false);
  const std::string client = string_field(entry, "oauth2", where, false);
  if (int(!file.empty()) + int(!env.empty()) + int(!client.empty()) != 1) {
    throw AccountsError{where + ": needs exactly one of 'secret_file', 'secret_env' and 'oauth2'"};
  }
  if (!file.empty()) {
    auto secret = read_secret_file(file);
    if (!secret) throw AccountsError{where + ": secret_file: " + secret.error().detail};
    return std::make_shared<StaticSecret>(loop, std::move(secret).value());
  }
  if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr || *value == '\0') {
      throw AccountsError{where + ": secret_env: environment variable " + env + " is not set or empty"};
    }
    return std::make_shared<StaticSecret>(loop, SecretString(value));
  }
  if (!oauth2) throw AccountsError{where + ": oauth2 '" + client + "': OAuth2 clients are not configured"};
  auto source = oauth2(client);
  if (!source) throw AccountsError{where + ": oauth2 '" + client + "': " + source.error().detail};
  return std::move(source).value();
}

}  // namespace

Result<AccountsPtr> Accounts::load(io::Loop& loop, const std::string& path,
                                   const OAuth2ClientResolver& oauth2) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorKind::Permanent, "accounts: cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(loop, path, text.str(), oauth2);
}

Result<AccountsPtr> Accounts::parse(io::Loop& loop, const std::string& path, const std::string& text,
                                    const OAuth2ClientResolver& oauth2) {
  auto accounts = std::shared_ptr<Accounts>(new Accounts());
  try {
    nlohmann::json root;
    try {
      root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw AccountsError{"not valid JSON: " + std::string(e.what())};
    }
    if (!root.is_object()) throw AccountsError{"the top level must be an object"};
    only_fields(root, {"identities", "accounts"}, "top level");
    const auto identities = root.value("identities", nlohmann::json::object());
    const auto logins = root.value("accounts", nlohmann::json::object());
    if (!identities.is_object()) throw AccountsError{"'identities' must be an object"};
    if (!logins.is_object()) throw AccountsError{"'accounts' must be an object"};

    for (const auto& [name, entry] : identities.items()) {
      const std::string where = "identity '" + name + "'";
      if (!entry.is_object()) throw AccountsError{where + ": must be an object"};
      only_fields(entry, {"upstream", "user", "secret_file", "secret_env", "oauth2"}, where);
      UpstreamIdentity identity;
      identity.name = name;
      if (entry.contains("upstream")) {
        try {
          identity.upstream = parse_upstream_url(string_field(entry, "upstream", where));
        } catch (const ConfigError& error) {
          throw AccountsError{where + ": " + error.what()};
        }
      }
      identity.user = string_field(entry, "user", where);
      identity.credentials = credential_source(loop, entry, where, oauth2);
      accounts->identities_.emplace(name, std::move(identity));
    }

    std::map<std::string, size_t> parameters_used;  // hash parameters -> accounts using them
    for (const auto& [login, entry] : logins.items()) {
      const std::string where = "account '" + login + "'";
      if (login.empty()) throw AccountsError{"an account has an empty login"};
      if (!entry.is_object()) throw AccountsError{where + ": must be an object"};
      only_fields(entry, {"password_hash", "identity", "revoked"}, where);
      LocalAccount account;
      account.login = login;
      account.password_hash = string_field(entry, "password_hash", where);
      if (Status checked = check_password_hash(account.password_hash); !checked) {
        throw AccountsError{where + ": password_hash: " + checked.error().detail};
      }
      const std::string identity = string_field(entry, "identity", where);
      auto found = accounts->identities_.find(identity);
      if (found == accounts->identities_.end()) {
        throw AccountsError{where + ": identity '" + identity + "' is not defined under 'identities'"};
      }
      account.identity = &found->second;
      if (auto revoked = entry.find("revoked"); revoked != entry.end()) {
        if (!revoked->is_boolean()) throw AccountsError{where + ": 'revoked' must be true or false"};
        account.revoked = revoked->get<bool>();
      }
      ++parameters_used[hash_parameters(account.password_hash)];
      accounts->accounts_.emplace(login, std::move(account));
    }

    // The dummy: an account's own hash with the most common parameters. Its salt is no secret
    // (it is in the file) and its answer is never used (verify_and_refuse).
    std::string common;
    size_t most = 0;
    for (const auto& [parameters, count] : parameters_used) {
      if (count > most) common = parameters, most = count;
    }
    for (const auto& [login, account] : accounts->accounts_) {
      if (hash_parameters(account.password_hash) == common) {
        accounts->dummy_hash_ = account.password_hash;
        break;
      }
    }
    if (accounts->dummy_hash_.empty()) {
      auto setting = make_hash_setting(HashMethod::Yescrypt);
      if (!setting) throw AccountsError{setting.error().detail};
      accounts->dummy_hash_ = std::move(setting).value();
    }
  } catch (const AccountsError& error) {
    return make_error(ErrorKind::Permanent, "accounts: " + path + ": " + error.what);
  }
  return AccountsPtr(std::move(accounts));
}

const LocalAccount* Accounts::find(std::string_view login) const {
  auto it = accounts_.find(login);
  return it == accounts_.end() ? nullptr : &it->second;
}

std::vector<const UpstreamIdentity*> Accounts::identities() const {
  std::vector<const UpstreamIdentity*> all;
  for (const auto& [name, identity] : identities_) all.push_back(&identity);
  return all;
}

}  // namespace popgate
