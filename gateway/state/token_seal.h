// TokenSeal: OAuth2 tokens sealed with AES-256-GCM before they go into a shared state store, so
// whoever reads the store (a Redis operator, a backup, a memory dump of the server) gets nothing
// usable without the key, and a sealed value cannot be moved to another client's key unnoticed.
//
// Sealed form: "v1" || 12-byte random nonce || ciphertext || 16-byte tag, with the store key it
// belongs to as additional data. The key is 32 bytes from --state-store-key-file: base64 or hex
// (`openssl rand -base64 32`).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate {

class TokenSeal {
 public:
  static constexpr size_t kKeyBytes = 32;

  // Blocking (start-up): the key file's 32 bytes. An Error (Permanent) says what is wrong, never
  // what the file holds.
  static Result<TokenSeal> from_key_file(const std::string& path);
  // The key as the file holds it: base64 or hex of exactly 32 bytes, surrounding white space ignored.
  static Result<TokenSeal> from_key_text(std::string_view text);
  ~TokenSeal();
  TokenSeal(const TokenSeal& other) = default;
  TokenSeal& operator=(const TokenSeal& other) = default;

  // `context`: the store key the value is written under (bound into the tag).
  std::string seal(std::string_view plaintext, std::string_view context) const;
  // An Error (Protocol) for a value sealed under another key or context, or altered.
  Result<SecretString> open(std::string_view sealed, std::string_view context) const;

 private:
  explicit TokenSeal(const std::array<uint8_t, kKeyBytes>& key) : key_(key) {}
  std::array<uint8_t, kKeyBytes> key_;
};

}  // namespace popgate
