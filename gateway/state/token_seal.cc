// AES-256-GCM through BoringSSL's EVP_AEAD.
#include "gateway/state/token_seal.h"

#include <openssl/aead.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include <cctype>
#include <optional>

#include "gateway/identity/static_secret.h"
#include "protocol/sasl/base64.h"

namespace popgate {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr size_t kNonceBytes = 12;

std::optional<std::string> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string bytes;
  for (size_t i = 0; i < text.size(); i += 2) {
    const int high = nibble(text[i]), low = nibble(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes += static_cast<char>(high << 4 | low);
  }
  return bytes;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

}  // namespace

Result<TokenSeal> TokenSeal::from_key_text(std::string_view text) {
  text = trimmed(text);
  std::optional<std::string> bytes =
      text.size() == 2 * kKeyBytes ? from_hex(text) : sasl::base64_decode(text);
  if (!bytes || bytes->size() != kKeyBytes) {
    if (bytes) OPENSSL_cleanse(bytes->data(), bytes->size());
    return make_error(ErrorKind::Permanent,
                      "the key must be 32 bytes in base64 or hex (make one with `openssl rand -base64 32`)");
  }
  std::array<uint8_t, kKeyBytes> key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  OPENSSL_cleanse(bytes->data(), bytes->size());
  TokenSeal seal(key);
  OPENSSL_cleanse(key.data(), key.size());
  return seal;
}

Result<TokenSeal> TokenSeal::from_key_file(const std::string& path) {
  auto text = read_secret_file(path);
  if (!text) return text.error();
  auto seal = from_key_text(text.value().reveal());
  if (!seal) return make_error(ErrorKind::Permanent, path + ": " + seal.error().detail);
  return seal;
}

TokenSeal::~TokenSeal() {
  OPENSSL_cleanse(key_.data(), key_.size());
}

std::string TokenSeal::seal(std::string_view plaintext, std::string_view context) const {
  EVP_AEAD_CTX ctx;
  EVP_AEAD_CTX_init(&ctx, EVP_aead_aes_256_gcm(), key_.data(), key_.size(), EVP_AEAD_DEFAULT_TAG_LENGTH,
                    nullptr);
  std::string sealed(kVersion);
  uint8_t nonce[kNonceBytes];
  RAND_bytes(nonce, sizeof nonce);
  sealed.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  const size_t header = sealed.size();
  sealed.resize(header + plaintext.size() + EVP_AEAD_max_overhead(EVP_aead_aes_256_gcm()));
  size_t written = 0;
  EVP_AEAD_CTX_seal(&ctx, reinterpret_cast<uint8_t*>(sealed.data() + header), &written,
                    sealed.size() - header, nonce, sizeof nonce,
                    reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext.size(),
                    reinterpret_cast<const uint8_t*>(context.data()), context.size());
  sealed.resize(header + written);
  EVP_AEAD_CTX_cleanup(&ctx);
  return sealed;
}

Result<SecretString> TokenSeal::open(std::string_view sealed, std::string_view context) const {
  const size_t header = kVersion.size() + kNonceBytes;
  if (sealed.size() < header || !sealed.starts_with(kVersion)) {
    return make_error(ErrorKind::Protocol, "not a sealed value");
  }
  EVP_AEAD_CTX ctx;
  EVP_AEAD_CTX_init(&ctx, EVP_aead_aes_256_gcm(), key_.data(), key_.size(), EVP_AEAD_DEFAULT_TAG_LENGTH,
                    nullptr);
  std::string plaintext(sealed.size() - header, '\0');
  size_t written = 0;
  const bool opened =
      EVP_AEAD_CTX_open(&ctx, reinterpret_cast<uint8_t*>(plaintext.data()), &written, plaintext.size(),
                        reinterpret_cast<const uint8_t*>(sealed.data() + kVersion.size()), kNonceBytes,
                        reinterpret_cast<const uint8_t*>(sealed.data() + header), sealed.size() - header,
                        reinterpret_cast<const uint8_t*>(context.data()), context.size()) == 1;
  EVP_AEAD_CTX_cleanup(&ctx);
  if (!opened) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return make_error(ErrorKind::Protocol, "sealed under another key, or altered");
  }
  plaintext.resize(written);
  return SecretString(std::move(plaintext));
}

}  // namespace popgate
