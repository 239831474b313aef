// Mints JWT access tokens (RFC 7519, JWS compact form) of the shape Dovecot's oauth2 passdb checks
// locally, signed with BoringSSL (HS256, RS256), or flawed on purpose.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace popgate::integration {

enum class JwtAlgorithm { Hs256, Rs256 };

// What is wrong with a minted token, on purpose.
enum class TokenFlaw {
  None,
  Expired,       // exp five minutes ago
  BadSignature,  // well formed, but not signed with the issuer's key
};

class JwtMinter {
 public:
  static constexpr std::string_view kHs256KeyId = "hs1";
  static constexpr std::string_view kRs256KeyId = "rs1";

  // A fresh random HS256 secret and RSA-2048 key pair; every token carries these iss, aud and scope.
  JwtMinter(std::string issuer, std::string audience, std::string scope);
  JwtMinter(const JwtMinter&) = delete;
  JwtMinter& operator=(const JwtMinter&) = delete;

  // A token for `subject` (Dovecot's username_attribute is "sub"), valid for an hour unless `flaw`.
  std::string mint(std::string_view subject, TokenFlaw flaw = TokenFlaw::None,
                   JwtAlgorithm algorithm = JwtAlgorithm::Hs256) const;

  // The HS256 secret in standard base64, as Dovecot's key dictionary wants it.
  std::string hs256_secret_base64() const;
  // The RS256 public key, PEM (SubjectPublicKeyInfo).
  std::string rs256_public_key_pem() const;

 private:
  std::string sign(JwtAlgorithm algorithm, std::string_view signing_input, bool forged) const;

  std::string issuer_;
  std::string audience_;
  std::string scope_;
  std::string hs256_secret_;
  bssl::UniquePtr<EVP_PKEY> rs256_key_;
};

// "user=U^Aauth=Bearer T^A^A" (XOAUTH2) and RFC 7628's "n,a=U,^Aauth=Bearer T^A^A" (OAUTHBEARER),
// base64: the SASL initial responses a POP3 or IMAP client sends.
std::string xoauth2_response(std::string_view user, std::string_view token);
std::string oauthbearer_response(std::string_view user, std::string_view token);

}  // namespace popgate::integration
