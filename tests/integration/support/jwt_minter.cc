// Mints JWT access tokens (RFC 7519, JWS compact form) of the shape Dovecot's oauth2 passdb checks
// locally, signed with BoringSSL (HS256, RS256), or flawed on purpose.
#include "tests/integration/support/jwt_minter.h"

#include <openssl/bytestring.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "protocol/sasl/base64.h"

namespace popgate::integration {
namespace {

// RFC 7515 §2: base64url without padding.
std::string base64url(std::string_view bytes) {
  std::string text = sasl::base64_encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

bssl::UniquePtr<EVP_PKEY> generate_rsa_key() {
  bssl::UniquePtr<RSA> rsa(RSA_new());
  bssl::UniquePtr<BIGNUM> exponent(BN_new());
  if (!rsa || !exponent || !BN_set_word(exponent.get(), RSA_F4) ||
      !RSA_generate_key_ex(rsa.get(), 2048, exponent.get(), nullptr)) {
    throw std::runtime_error("RSA key generation failed");
  }
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (!key || !EVP_PKEY_assign_RSA(key.get(), rsa.release())) throw std::runtime_error("EVP_PKEY failed");
  return key;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

JwtMinter::JwtMinter(std::string issuer, std::string audience, std::string scope)
    : issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      scope_(std::move(scope)),
      hs256_secret_(32, '\0'),
      rs256_key_(generate_rsa_key()) {
  RAND_bytes(reinterpret_cast<uint8_t*>(hs256_secret_.data()), hs256_secret_.size());
}

std::string JwtMinter::mint(std::string_view subject, TokenFlaw flaw, JwtAlgorithm algorithm) const {
  const bool hs256 = algorithm == JwtAlgorithm::Hs256;
  // Dovecot 2.3.19 requires "typ":"JWT"; "kid" picks the key file <azp>/<alg>/<kid>.
  const nlohmann::json header = {
      {"alg", hs256 ? "HS256" : "RS256"}, {"typ", "JWT"}, {"kid", hs256 ? kHs256KeyId : kRs256KeyId}};
  // exp must be an integer (a float is "Malformed"); there is no leeway, so iat lies in the past.
  const int64_t now = unix_now();
  const int64_t expires = flaw == TokenFlaw::Expired ? now - 300 : now + 3600;
  const nlohmann::json claims = {{"iss", issuer_},  {"aud", audience_},      {"sub", std::string(subject)},
                                 {"scope", scope_}, {"iat", expires - 3600}, {"exp", expires}};
  const std::string signing_input = base64url(header.dump()) + "." + base64url(claims.dump());
  return signing_input + "." + base64url(sign(algorithm, signing_input, flaw == TokenFlaw::BadSignature));
}

std::string JwtMinter::sign(JwtAlgorithm algorithm, std::string_view signing_input, bool forged) const {
  if (algorithm == JwtAlgorithm::Hs256) {
    std::string key = hs256_secret_;
    if (forged) key[0] = static_cast<char>(key[0] ^ 0x01);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_size = 0;
    if (!HMAC(EVP_sha256(), key.data(), key.size(), reinterpret_cast<const uint8_t*>(signing_input.data()),
              signing_input.size(), mac, &mac_size)) {
      throw std::runtime_error("HMAC failed");
    }
    return std::string(reinterpret_cast<const char*>(mac), mac_size);
  }
  EVP_PKEY* key = rs256_key_.get();
  bssl::ScopedEVP_MD_CTX context;
  size_t size = 0;
  if (!EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key) ||
      !EVP_DigestSign(context.get(), nullptr, &size, reinterpret_cast<const uint8_t*>(signing_input.data()),
                      signing_input.size())) {
    throw std::runtime_error("RS256 signing failed");
  }
  std::string signature(size, '\0');
  if (!EVP_DigestSign(context.get(), reinterpret_cast<uint8_t*>(signature.data()), &size,
                      reinterpret_cast<const uint8_t*>(signing_input.data()), signing_input.size())) {
    throw std::runtime_error("RS256 signing failed");
  }
  signature.resize(size);
  // Well formed, and not the issuer's signature.
  if (forged) signature[size / 2] = static_cast<char>(signature[size / 2] ^ 0x01);
  return signature;
}

std::string JwtMinter::hs256_secret_base64() const {
  return sasl::base64_encode(hs256_secret_);
}

std::string JwtMinter::rs256_public_key_pem() const {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_PUBKEY(bio.get(), rs256_key_.get()))
    throw std::runtime_error("PEM export failed");
  const uint8_t* data = nullptr;
  size_t size = 0;
  BIO_mem_contents(bio.get(), &data, &size);
  return std::string(reinterpret_cast<const char*>(data), size);
}

std::string xoauth2_response(std::string_view user, std::string_view token) {
  return sasl::base64_encode("user=" + std::string(user) + "\x01" + "auth=Bearer " + std::string(token) +
                             "\x01\x01");
}

std::string oauthbearer_response(std::string_view user, std::string_view token) {
  return sasl::base64_encode("n,a=" + std::string(user) + ",\x01" + "auth=Bearer " + std::string(token) +
                             "\x01\x01");
}

}  // namespace popgate::integration
