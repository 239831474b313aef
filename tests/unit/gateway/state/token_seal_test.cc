// TokenSeal: what goes into the store opens only with the same key and under the same store key,
// unaltered; key files in base64 or hex, anything else refused without echoing it.
#include "gateway/state/token_seal.h"

#include <gtest/gtest.h>

#include <string>

namespace popgate {
namespace {

constexpr std::string_view kKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr std::string_view kKeyBase64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

TokenSeal key(std::string_view text) {
  auto seal = TokenSeal::from_key_text(text);
  EXPECT_TRUE(seal.ok()) << (seal.ok() ? "" : seal.error().detail);
  return std::move(seal).value();
}

TEST(TokenSeal, OpensWhatItSealedUnderTheSameContext) {
  const TokenSeal seal = key(kKeyHex);
  const std::string sealed = seal.seal(R"({"refresh_token":"rt-1"})", "popgate:oauth:okta");
  EXPECT_EQ(sealed.find("rt-1"), std::string::npos) << "nothing in the clear";
  auto opened = seal.open(sealed, "popgate:oauth:okta");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened.value().reveal(), R"({"refresh_token":"rt-1"})");
  EXPECT_NE(seal.seal("same", "k"), seal.seal("same", "k")) << "a fresh nonce each time";
}

TEST(TokenSeal, TheSameKeyInBase64OrHexWithWhiteSpaceAround) {
  const std::string sealed = key(kKeyHex).seal("token", "k");
  EXPECT_TRUE(key(std::string(kKeyBase64) + "\n").open(sealed, "k").ok());
  EXPECT_TRUE(key("  " + std::string(kKeyHex) + "\r\n").open(sealed, "k").ok());
}

TEST(TokenSeal, AnotherContextAnotherKeyOrAnyAlteredByteDoesNotOpen) {
  const TokenSeal seal = key(kKeyHex);
  const std::string sealed = seal.seal("token", "popgate:oauth:okta");
  EXPECT_FALSE(seal.open(sealed, "popgate:oauth:other").ok()) << "moved to another client's key";
  std::string other_key(kKeyHex);
  other_key.back() = '0';
  EXPECT_FALSE(key(other_key).open(sealed, "popgate:oauth:okta").ok());
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string altered = sealed;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    EXPECT_FALSE(seal.open(altered, "popgate:oauth:okta").ok()) << "byte " << i;
  }
  EXPECT_FALSE(seal.open("", "popgate:oauth:okta").ok());
  EXPECT_FALSE(seal.open(sealed.substr(0, 20), "popgate:oauth:okta").ok());
}

TEST(TokenSeal, AKeyThatIsNot32BytesIsRefusedWithoutEchoingIt) {
  for (std::string_view text :
       {std::string_view("c2hvcnQ="), std::string_view("not a key at all, just words"), std::string_view(""),
        kKeyHex.substr(2)}) {
    auto seal = TokenSeal::from_key_text(text);
    ASSERT_FALSE(seal.ok()) << text;
    EXPECT_NE(seal.error().detail.find("32 bytes"), std::string::npos);
    if (!text.empty()) {
      EXPECT_EQ(seal.error().detail.find(text), std::string::npos);
    }
  }
  auto missing = TokenSeal::from_key_file("/nonexistent/popgate-key");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().detail.find("/nonexistent/popgate-key"), std::string::npos);
}

}  // namespace
}  // namespace popgate
