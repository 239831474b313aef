// ClientAssertionSigner: private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect
// Core §9): a short-lived JWT signed RS256 (RSA key) or ES256 (P-256 key) with BoringSSL.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/common/result.h"

namespace popgate::oauth2 {

// The assertion_type form value that goes with client_assertion.
inline constexpr std::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// base64url without padding (RFC 7515 §2).
std::string base64url_encode(std::string_view data);

class ClientAssertionSigner {
 public:
  // A PEM private key (PKCS#8, or traditional RSA / EC). `key_id` becomes the JWT header's
  // "kid" when not empty (Microsoft Entra wants the certificate thumbprint as "x5t" instead:
  // give it as key_id prefixed "x5t:"). Errors are Permanent and name what is wrong.
  static Result<std::shared_ptr<const ClientAssertionSigner>> from_pem(std::string_view pem,
                                                                       std::string key_id);
  // Reads the file; start-up only (blocking).
  static Result<std::shared_ptr<const ClientAssertionSigner>> load_file(const std::string& path,
                                                                        std::string key_id);

  // iss = sub = client_id, aud = the token endpoint URL, iat = now, exp = now + lifetime, a random
  // jti (RFC 7523 §3). Empty on a signing failure (BoringSSL out of memory).
  std::string sign(std::string_view client_id, std::string_view audience, int64_t now_unix_s,
                   int64_t lifetime_s = 300) const;

  const char* algorithm() const { return es256_ ? "ES256" : "RS256"; }

 private:
  ClientAssertionSigner(bssl::UniquePtr<EVP_PKEY> key, bool es256, std::string key_id)
      : key_(std::move(key)), es256_(es256), key_id_(std::move(key_id)) {}

  bssl::UniquePtr<EVP_PKEY> key_;
  bool es256_;
  std::string key_id_;
};

}  // namespace popgate::oauth2
