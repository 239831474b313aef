// Password hashes in crypt(3) form (libxcrypt): which methods popgate accepts, making a hash,
// and checking a password against one. Every function here blocks for as long as the method's
// cost says (milliseconds): on the loop thread only PasswordVerifier may call them, through
// libuv's threadpool.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate {

enum class HashMethod { Yescrypt, Bcrypt, Sha512Crypt };

// "yescrypt", "bcrypt", "sha512-crypt".
const char* to_string(HashMethod method);
std::optional<HashMethod> parse_hash_method(std::string_view name);

// Ok for a well-formed yescrypt ($y$), bcrypt ($2b$, $2y$) or sha512-crypt ($6$) hash; an Error
// (Permanent) naming the method otherwise: DES, MD5 ($1$), sha256-crypt ($5$), NT ($3$) and the
// like are refused as too weak, anything else as not a crypt(3) hash.
Status check_password_hash(std::string_view hash);

// The part of a hash that fixes its method and cost ("$y$j9T$", "$2b$12$", "$6$rounds=5000$"):
// hashes with equal parameters take equally long to check.
std::string hash_parameters(std::string_view hash);

// A fresh hash of `password` with a random salt (libxcrypt reads /dev/urandom itself) and the
// method's default cost. Fails only if the system's libcrypt lacks the method.
Result<std::string> make_password_hash(const SecretString& password, HashMethod method);

// A salt setting of `method` at the default cost, for a hash that matches no password.
Result<std::string> make_hash_setting(HashMethod method);

// crypt_rn: the hash of `password` under `setting` (a hash, or a setting); nothing when
// libcrypt refuses the setting.
std::optional<std::string> crypt_hash(const SecretString& password, const std::string& setting);

// Constant-time: a comparison that takes as long whichever byte differs.
bool same_hash(std::string_view computed, std::string_view stored);

}  // namespace popgate
