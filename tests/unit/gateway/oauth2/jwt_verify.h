// Test helpers for private_key_jwt: make keys, and verify a JWT's RS256 / ES256 signature the way
// an identity provider does (ES256: raw R || S turned back into DER for BoringSSL).
#pragma once

#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "protocol/sasl/base64.h"

namespace popgate::testing {

inline bssl::UniquePtr<EVP_PKEY> generate_key(bool es256) {
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (es256) {
    bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    EC_KEY_generate_key(ec.get());
    EVP_PKEY_assign_EC_KEY(key.get(), ec.release());
  } else {
    bssl::UniquePtr<RSA> rsa(RSA_new());
    bssl::UniquePtr<BIGNUM> e(BN_new());
    BN_set_word(e.get(), RSA_F4);
    RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr);
    EVP_PKEY_assign_RSA(key.get(), rsa.release());
  }
  return key;
}

inline std::string private_key_pem(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  const uint8_t* data = nullptr;
  size_t length = 0;
  BIO_mem_contents(bio.get(), &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

inline std::optional<std::string> base64url_decode(std::string text) {
  for (char& c : text) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (text.size() % 4 != 0) text += '=';
  return sasl::base64_decode(text);
}

// The claims when the signature verifies with `key`, else nothing.
inline std::optional<nlohmann::json> verify_jwt(const std::string& jwt, EVP_PKEY* key) {
  size_t first = jwt.find('.');
  size_t second = jwt.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) return std::nullopt;
  auto header = base64url_decode(jwt.substr(0, first));
  auto payload = base64url_decode(jwt.substr(first + 1, second - first - 1));
  auto signature = base64url_decode(jwt.substr(second + 1));
  if (!header || !payload || !signature) return std::nullopt;
  nlohmann::json head = nlohmann::json::parse(*header, nullptr, false);
  const bool es256 = EVP_PKEY_id(key) == EVP_PKEY_EC;
  if (head.is_discarded() || head.value("alg", "") != (es256 ? "ES256" : "RS256")) return std::nullopt;
  std::string der = *signature;
  if (es256) {
    if (signature->size() != 64) return std::nullopt;
    bssl::UniquePtr<ECDSA_SIG> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const uint8_t*>(signature->data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const uint8_t*>(signature->data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(sig.get(), r, s);
    uint8_t* out = nullptr;
    size_t out_length = 0;
    if (!ECDSA_SIG_to_bytes(&out, &out_length, sig.get())) return std::nullopt;
    der.assign(reinterpret_cast<const char*>(out), out_length);
    OPENSSL_free(out);
  }
  bssl::ScopedEVP_MD_CTX ctx;
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (!EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr, key)) return std::nullopt;
  if (!es256) EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING);
  std::string input = jwt.substr(0, second);
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const uint8_t*>(der.data()), der.size(),
                       reinterpret_cast<const uint8_t*>(input.data()), input.size()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  nlohmann::json claims = nlohmann::json::parse(*payload, nullptr, false);
  if (claims.is_discarded()) return std::nullopt;
  return claims;
}

}  // namespace popgate::testing
