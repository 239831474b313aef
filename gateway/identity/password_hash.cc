// crypt(3) through libxcrypt: crypt_rn (reentrant, no static buffer) and crypt_gensalt_rn.
#include "gateway/identity/password_hash.h"

#include <crypt.h>
#include <openssl/mem.h>

#include <memory>

#include "protocol/common/wipe.h"

namespace popgate {
namespace {

struct Prefix {
  std::string_view prefix;
  const char* name;
};

// The methods crypt(3) knows that popgate refuses, named in the error.
constexpr Prefix kWeakPrefixes[] = {
    {"$1$", "MD5-crypt"},
    {"$3$", "NT hash"},
    {"$5$", "sha256-crypt"},
    {"$md5", "Sun MD5"},
    {"$sha1$", "sha1-crypt"},
    {"_", "BSDi DES"},
    {"$2a$", "bcrypt $2a$ (buggy variant)"},
    {"$2x$", "bcrypt $2x$"},
    {"$7$", "scrypt"},
    {"$gy$", "gost-yescrypt"},
};

const char* method_prefix(HashMethod method) {
  switch (method) {
    case HashMethod::Yescrypt:
      return "$y$";
    case HashMethod::Bcrypt:
      return "$2b$";
    case HashMethod::Sha512Crypt:
      return "$6$";
  }
  return "$y$";
}

}  // namespace

const char* to_string(HashMethod method) {
  switch (method) {
    case HashMethod::Yescrypt:
      return "yescrypt";
    case HashMethod::Bcrypt:
      return "bcrypt";
    case HashMethod::Sha512Crypt:
      return "sha512-crypt";
  }
  return "yescrypt";
}

std::optional<HashMethod> parse_hash_method(std::string_view name) {
  if (name == "yescrypt") return HashMethod::Yescrypt;
  if (name == "bcrypt") return HashMethod::Bcrypt;
  if (name == "sha512-crypt") return HashMethod::Sha512Crypt;
  return std::nullopt;
}

Status check_password_hash(std::string_view hash) {
  const bool accepted = hash.starts_with("$y$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") ||
                        hash.starts_with("$6$");
  if (!accepted) {
    for (const auto& weak : kWeakPrefixes) {
      if (hash.starts_with(weak.prefix)) {
        return make_error(ErrorKind::Permanent, std::string(weak.name) +
                                                    " is too weak; use yescrypt, bcrypt or sha512-crypt "
                                                    "(popgate hash-password)");
      }
    }
    if (!hash.empty() && hash[0] != '$') {
      return make_error(ErrorKind::Permanent,
                        "traditional DES crypt (or not a hash at all) is too weak; use yescrypt, bcrypt or "
                        "sha512-crypt (popgate hash-password)");
    }
    return make_error(ErrorKind::Permanent, "not a yescrypt ($y$), bcrypt ($2b$) or sha512-crypt ($6$) hash");
  }
  // crypt_checksalt judges the setting part; a complete hash must also have its hash part,
  // which crypt_checksalt would accept missing.
  const std::string text(hash);
  if (crypt_checksalt(text.c_str()) != CRYPT_SALT_OK || hash_parameters(hash).size() >= hash.size()) {
    return make_error(ErrorKind::Permanent, "malformed crypt(3) hash");
  }
  // A truncated or mistyped hash would simply never match, which is a worse error to find.
  // (Checking by computing a hash would cost milliseconds per account on every reload.)
  const size_t hash_part = hash.starts_with("$2") ? hash.size() - 29 : hash.size() - hash.rfind('$') - 1;
  const size_t expected = hash.starts_with("$y$") ? 43 : hash.starts_with("$6$") ? 86 : 31;
  if (hash.starts_with("$2") ? hash.size() != 60 : hash_part != expected) {
    return make_error(ErrorKind::Permanent, "malformed crypt(3) hash (the hash part has the wrong length)");
  }
  return Ok{};
}

std::string hash_parameters(std::string_view hash) {
  // $y$PARAMS$SALT$HASH, $6$[rounds=N$]SALT$HASH: the method and its cost field.
  // $2b$CC$SALT+HASH: the method and the cost.
  if (hash.starts_with("$6$")) {
    if (hash.substr(3).starts_with("rounds=")) {
      auto end = hash.find('$', 3);
      return std::string(hash.substr(0, end == std::string_view::npos ? hash.size() : end + 1));
    }
    return "$6$";
  }
  size_t dollars = 0;
  for (size_t i = 0; i < hash.size(); ++i) {
    if (hash[i] == '$' && ++dollars == 3) return std::string(hash.substr(0, i + 1));
  }
  return std::string(hash);
}

std::optional<std::string> crypt_hash(const SecretString& password, const std::string& setting) {
  // crypt_data is 32 KiB: on the heap, and wiped afterwards (it held the password).
  auto data = std::make_unique<crypt_data>();
  // reveal() views a std::string's buffer, which is NUL-terminated (a NUL cannot be part of a
  // POP3 password: AUTH PLAIN uses it as the separator). No unwiped copy is made.
  const char* hashed = crypt_rn(password.reveal().data(), setting.c_str(), data.get(), sizeof(crypt_data));
  std::optional<std::string> result;
  // On failure libxcrypt returns null or (crypt_rn never does, crypt may) a "*"-string.
  if (hashed != nullptr && hashed[0] != '*') result = std::string(hashed);
  wipe_memory(data.get(), sizeof(crypt_data));
  return result;
}

Result<std::string> make_hash_setting(HashMethod method) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // Null rbytes: libxcrypt takes its own random bytes.
  // bcrypt: cost 10 (libxcrypt defaults to 5); the others: their defaults.
  const unsigned long count = method == HashMethod::Bcrypt ? 10 : 0;
  if (crypt_gensalt_rn(method_prefix(method), count, nullptr, 0, setting, sizeof setting) == nullptr) {
    return make_error(ErrorKind::Permanent,
                      std::string("this system's libcrypt cannot make ") + to_string(method) + " hashes");
  }
  return std::string(setting);
}

Result<std::string> make_password_hash(const SecretString& password, HashMethod method) {
  auto setting = make_hash_setting(method);
  if (!setting) return setting.error();
  auto hashed = crypt_hash(password, setting.value());
  if (!hashed) {
    return make_error(ErrorKind::Permanent,
                      std::string("libcrypt failed to make a ") + to_string(method) + " hash");
  }
  return std::move(*hashed);
}

bool same_hash(std::string_view computed, std::string_view stored) {
  if (computed.size() != stored.size()) return false;
  return CRYPTO_memcmp(computed.data(), stored.data(), computed.size()) == 0;
}

}  // namespace popgate
