// private_key_jwt: builds and signs the client assertion JWT (RFC 7523, RFC 7515, RFC 7518 §3.3/§3.4).
#include "gateway/oauth2/client_assertion.h"

#include <openssl/base64.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "protocol/common/hex.h"

namespace popgate::oauth2 {

std::string base64url_encode(std::string_view data) {
  size_t length = 0;
  if (!EVP_EncodedLength(&length, data.size())) return {};
  std::string out(length, '\0');
  size_t written = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                                   reinterpret_cast<const uint8_t*>(data.data()), data.size());
  out.resize(written);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

Result<std::shared_ptr<const ClientAssertionSigner>> ClientAssertionSigner::from_pem(std::string_view pem,
                                                                                     std::string key_id) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return make_error(ErrorKind::Internal, "out of memory");
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) return make_error(ErrorKind::Permanent, "no PEM private key found");
  bool es256 = false;
  switch (EVP_PKEY_id(key.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_bits(key.get()) < 2048)
        return make_error(ErrorKind::Permanent, "RSA key shorter than 2048 bits");
      break;
    case EVP_PKEY_EC: {
      const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key.get());
      if (EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) != NID_X9_62_prime256v1)
        return make_error(ErrorKind::Permanent, "EC key not on P-256 (ES256 needs P-256)");
      es256 = true;
      break;
    }
    default:
      return make_error(ErrorKind::Permanent, "key is neither RSA nor EC P-256");
  }
  return std::shared_ptr<const ClientAssertionSigner>(
      new ClientAssertionSigner(std::move(key), es256, std::move(key_id)));
}

Result<std::shared_ptr<const ClientAssertionSigner>> ClientAssertionSigner::load_file(const std::string& path,
                                                                                      std::string key_id) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::Permanent, path + ": cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  auto signer = from_pem(text.str(), std::move(key_id));
  if (!signer) return make_error(ErrorKind::Permanent, path + ": " + signer.error().detail);
  return signer;
}

std::string ClientAssertionSigner::sign(std::string_view client_id, std::string_view audience,
                                        int64_t now_unix_s, int64_t lifetime_s) const {
  nlohmann::json header = {{"alg", algorithm()}, {"typ", "JWT"}};
  if (std::string_view(key_id_).starts_with("x5t:")) {
    header["x5t"] = key_id_.substr(4);
  } else if (!key_id_.empty()) {
    header["kid"] = key_id_;
  }
  uint8_t random[16];
  RAND_bytes(random, sizeof random);
  const std::string jti = lower_hex(random);
  nlohmann::json claims = {{"iss", client_id},
                           {"sub", client_id},
                           {"aud", audience},
                           {"jti", jti},
                           {"iat", now_unix_s},
                           {"nbf", now_unix_s},
                           {"exp", now_unix_s + lifetime_s}};
  std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());

  bssl::ScopedEVP_MD_CTX ctx;
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (!EVP_DigestSignInit(ctx.get(), &pkey_ctx, EVP_sha256(), nullptr, key_.get())) return {};
  // RS256 is RSASSA-PKCS1-v1_5 (RFC 7518 §3.3), not PSS.
  if (!es256_ && !EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING)) return {};
  size_t length = 0;
  const auto* input = reinterpret_cast<const uint8_t*>(signing_input.data());
  if (!EVP_DigestSign(ctx.get(), nullptr, &length, input, signing_input.size())) return {};
  std::vector<uint8_t> signature(length);
  if (!EVP_DigestSign(ctx.get(), signature.data(), &length, input, signing_input.size())) return {};
  signature.resize(length);

  std::string encoded_signature;
  if (es256_) {
    // RFC 7518 §3.4: JWS wants R || S, 32 octets each, not BoringSSL's DER ECDSA-Sig-Value.
    bssl::UniquePtr<ECDSA_SIG> sig(ECDSA_SIG_from_bytes(signature.data(), signature.size()));
    if (!sig) return {};
    uint8_t raw[64];
    if (!BN_bn2bin_padded(raw, 32, ECDSA_SIG_get0_r(sig.get())) ||
        !BN_bn2bin_padded(raw + 32, 32, ECDSA_SIG_get0_s(sig.get()))) {
      return {};
    }
    encoded_signature = base64url_encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
  } else {
    encoded_signature =
        base64url_encode(std::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
  }
  return signing_input + "." + encoded_signature;
}

}  // namespace popgate::oauth2
