// private_key_jwt: the assertion's claims, and its RS256 / ES256 signature verified with the
// public key (as an identity provider would).
#include "gateway/oauth2/client_assertion.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "protocol/sasl/base64.h"
#include "tests/unit/gateway/oauth2/jwt_verify.h"

namespace popgate::oauth2 {
namespace {

TEST(OAuth2ClientAssertion, Base64UrlHasNoPaddingAndUrlAlphabet) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_encode("ab"), "YWI");
}

class ClientAssertionKeys : public ::testing::TestWithParam<bool> {};  // true: ES256

TEST_P(ClientAssertionKeys, SignatureVerifiesWithThePublicKeyAndClaimsAreRfc7523) {
  bssl::UniquePtr<EVP_PKEY> key = testing::generate_key(GetParam());
  auto signer = ClientAssertionSigner::from_pem(testing::private_key_pem(key.get()), "kid-1");
  ASSERT_TRUE(signer.ok()) << signer.error().detail;
  EXPECT_STREQ(signer.value()->algorithm(), GetParam() ? "ES256" : "RS256");
  std::string jwt = signer.value()->sign("client-1", "https://idp.example/token", 1'700'000'000);
  auto claims = testing::verify_jwt(jwt, key.get());
  ASSERT_TRUE(claims) << jwt;
  EXPECT_EQ((*claims)["iss"], "client-1");
  EXPECT_EQ((*claims)["sub"], "client-1");
  EXPECT_EQ((*claims)["aud"], "https://idp.example/token");
  EXPECT_EQ((*claims)["exp"], 1'700'000'300);
  EXPECT_EQ((*claims)["jti"].get<std::string>().size(), 32u);
  // A fresh jti each time (RFC 7523 §3 replay protection).
  auto again = testing::verify_jwt(signer.value()->sign("client-1", "aud", 1), key.get());
  ASSERT_TRUE(again);
  EXPECT_NE((*again)["jti"], (*claims)["jti"]);
  // Another key does not verify it: the check can fail.
  bssl::UniquePtr<EVP_PKEY> other = testing::generate_key(GetParam());
  EXPECT_FALSE(testing::verify_jwt(jwt, other.get()));
  // A tampered payload does not verify either.
  std::string tampered = jwt;
  tampered[jwt.find('.') + 3] ^= 1;
  EXPECT_FALSE(testing::verify_jwt(tampered, key.get()));
}

INSTANTIATE_TEST_SUITE_P(Rs256AndEs256, ClientAssertionKeys, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "ES256" : "RS256"; });

TEST(OAuth2ClientAssertion, RefusesWhatIsNotAUsableKey) {
  EXPECT_EQ(ClientAssertionSigner::from_pem("not a key", "").error().kind, ErrorKind::Permanent);
  EXPECT_FALSE(ClientAssertionSigner::load_file("/nonexistent/key.pem", "").ok());
}

}  // namespace
}  // namespace popgate::oauth2
