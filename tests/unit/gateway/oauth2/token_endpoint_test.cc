// The sans-I/O side of TokenEndpoint: form encoding and RFC 6749 / RFC 8628 answers, no sockets.
#include "gateway/oauth2/token_endpoint.h"

#include <gtest/gtest.h>

#include "tests/unit/gateway/oauth2/fake_token_server.h"

namespace popgate::oauth2 {
namespace {

TEST(OAuth2FormEncode, EscapesEverythingButUnreservedAndRoundTrips) {
  std::string encoded =
      form_encode({{"grant_type", "refresh_token"}, {"scope", "https://mail.google.com/ x&y=z"}});
  EXPECT_EQ(encoded, "grant_type=refresh_token&scope=https%3A%2F%2Fmail.google.com%2F+x%26y%3Dz");
  auto decoded = testing::form_decode(encoded);
  EXPECT_EQ(decoded["scope"], "https://mail.google.com/ x&y=z");
  EXPECT_EQ(form_encode({{"k", "\xC3\xA9\x01"}}), "k=%C3%A9%01");
}

TEST(OAuth2TokenResponse, SuccessWithRotation) {
  auto parsed = parse_token_response(
      200, R"({"access_token":"at","token_type":"Bearer","expires_in":3599,"refresh_token":"rt2"})");
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(parsed.value().tokens);
  EXPECT_EQ(parsed.value().tokens->access_token.reveal(), "at");
  EXPECT_EQ(parsed.value().tokens->refresh_token.reveal(), "rt2");
  EXPECT_EQ(parsed.value().tokens->expires_in_s, 3599u);
}

TEST(OAuth2TokenResponse, ExpiresInAsStringOrAbsent) {
  auto as_string = parse_token_response(200, R"({"access_token":"at","expires_in":"60"})");
  ASSERT_TRUE(as_string.ok());
  EXPECT_EQ(as_string.value().tokens->expires_in_s, 60u);
  auto absent = parse_token_response(200, R"({"access_token":"at"})");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent.value().tokens->expires_in_s);
  EXPECT_TRUE(absent.value().tokens->refresh_token.empty());
}

// Issue #15: a double past uint64_t's range (1e30) was cast to it, which is undefined behaviour.
// Every spelling a server may use lands in [0, kMaxTokenSeconds], and seconds in milliseconds fit.
TEST(OAuth2TokenResponse, ExpiresInIsClampedHoweverItIsSpelt) {
  static_assert(kMaxTokenSeconds <= UINT64_MAX / 1000);
  auto expires_in = [](const std::string& value) -> std::optional<uint64_t> {
    auto parsed = parse_token_response(200, R"({"access_token":"at","expires_in":)" + value + "}");
    EXPECT_TRUE(parsed.ok()) << value;
    return parsed.ok() ? parsed.value().tokens->expires_in_s : std::nullopt;
  };
  EXPECT_EQ(expires_in("1e30"), kMaxTokenSeconds);
  EXPECT_EQ(expires_in("1.7976931348623157e308"), kMaxTokenSeconds);
  EXPECT_EQ(expires_in("18446744073709551615"), kMaxTokenSeconds);  // uint64_t's largest
  EXPECT_EQ(expires_in("18446744073709551616"), kMaxTokenSeconds);  // one more: a double
  EXPECT_EQ(expires_in("31536001"), kMaxTokenSeconds);
  EXPECT_EQ(expires_in("31536000"), kMaxTokenSeconds);
  EXPECT_EQ(expires_in("31535999"), 31535999u);
  EXPECT_EQ(expires_in("3599.9"), 3599u);  // whole seconds
  EXPECT_EQ(expires_in("-1"), 0u);
  EXPECT_EQ(expires_in("-1e30"), 0u);
  EXPECT_EQ(expires_in("-9223372036854775808"), 0u);
  EXPECT_EQ(expires_in("-0.0"), 0u);
  EXPECT_EQ(expires_in(R"("3600")"), 3600u);
  EXPECT_EQ(expires_in(R"("99999999999999999999999999999999999999")"), kMaxTokenSeconds);
  EXPECT_EQ(expires_in(R"("000000000000000000000000000000000000060")"), 60u);
  EXPECT_EQ(expires_in(R"("-5")"), std::nullopt);  // not a string of digits: as if absent
  EXPECT_EQ(expires_in(R"("1e30")"), std::nullopt);
  EXPECT_EQ(expires_in(R"("")"), std::nullopt);
  EXPECT_EQ(expires_in("true"), std::nullopt);
  // The device authorization's expires_in and interval go the same way.
  auto device = parse_device_authorization(
      200, R"({"device_code":"dc","user_code":"UC","verification_uri":"https://example.com/device",)"
           R"("expires_in":1e30,"interval":"184467440737095516160"})");
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(device.value().expires_in_s, kMaxTokenSeconds);
  EXPECT_EQ(device.value().interval_s, kMaxTokenSeconds);
  device = parse_device_authorization(
      200, R"({"device_code":"dc","user_code":"UC","verification_uri":"https://example.com/device",)"
           R"("expires_in":-300,"interval":2.5})");
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(device.value().expires_in_s, 0u);
  EXPECT_EQ(device.value().interval_s, 2u);
}

TEST(OAuth2TokenResponse, ErrorCodes) {
  struct Case {
    const char* name;
    TokenErrorCode code;
  };
  for (Case c :
       {Case{"invalid_grant", TokenErrorCode::InvalidGrant},
        Case{"invalid_client", TokenErrorCode::InvalidClient},
        Case{"authorization_pending", TokenErrorCode::AuthorizationPending},
        Case{"slow_down", TokenErrorCode::SlowDown}, Case{"expired_token", TokenErrorCode::ExpiredToken},
        Case{"access_denied", TokenErrorCode::AccessDenied}, Case{"invalid_scope", TokenErrorCode::Other}}) {
    auto parsed = parse_token_response(
        400, std::string(R"({"error":")") + c.name + R"(","error_description":"AADSTS70000: bad\nthing"})");
    ASSERT_TRUE(parsed.ok()) << c.name;
    EXPECT_FALSE(parsed.value().tokens);
    EXPECT_EQ(parsed.value().error, c.code) << c.name;
    EXPECT_EQ(parsed.value().error_name, c.name);
    EXPECT_EQ(parsed.value().description.find('\n'), std::string::npos);  // sanitised for the log
  }
  auto unauthorized = parse_token_response(401, R"({"error":"invalid_client"})");
  ASSERT_TRUE(unauthorized.ok());
  EXPECT_EQ(unauthorized.value().error, TokenErrorCode::InvalidClient);
}

TEST(OAuth2TokenResponse, ServerTroubleIsTemporaryAndGarbageIsProtocol) {
  EXPECT_EQ(parse_token_response(503, "<html>down</html>").error().kind, ErrorKind::Temporary);
  EXPECT_EQ(parse_token_response(429, R"({"error":"slow"})").error().kind, ErrorKind::Temporary);
  EXPECT_EQ(parse_token_response(200, "not json").error().kind, ErrorKind::Protocol);
  EXPECT_EQ(parse_token_response(200, R"({"token_type":"Bearer"})").error().kind, ErrorKind::Protocol);
  EXPECT_EQ(parse_token_response(200, R"(["access_token"])").error().kind, ErrorKind::Protocol);
  EXPECT_EQ(parse_token_response(400, "").error().kind, ErrorKind::Protocol);
}

TEST(OAuth2DeviceAuthorization, MicrosoftAndGoogleSpellings) {
  auto microsoft = parse_device_authorization(
      200,
      R"({"device_code":"dc","user_code":"ABCD-EFGH","verification_uri":"https://microsoft.com/devicelogin",)"
      R"("expires_in":900,"interval":5,"message":"To sign in..."})");
  ASSERT_TRUE(microsoft.ok());
  EXPECT_EQ(microsoft.value().device_code.reveal(), "dc");
  EXPECT_EQ(microsoft.value().verification_uri, "https://microsoft.com/devicelogin");
  EXPECT_EQ(microsoft.value().expires_in_s, 900u);
  auto google = parse_device_authorization(
      200,
      R"({"device_code":"dc","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device",)"
      R"("expires_in":1800})");
  ASSERT_TRUE(google.ok());
  EXPECT_EQ(google.value().verification_uri, "https://www.google.com/device");
  EXPECT_EQ(google.value().interval_s, 5u);  // RFC 8628 §3.2 default
  EXPECT_FALSE(parse_device_authorization(200, R"({"device_code":"dc"})").ok());
  EXPECT_EQ(parse_device_authorization(400, R"({"error":"invalid_client"})").error().kind,
            ErrorKind::Permanent);
}

}  // namespace
}  // namespace popgate::oauth2
