// Tests for the XOAUTH2 and OAUTHBEARER (RFC 7628) client responses and error challenges.
#include "protocol/sasl/oauth_bearer.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/sasl/base64.h"

namespace popgate::sasl {
namespace {

using namespace std::string_literals;

const std::string kToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_~+/==";
const std::string kXoauth2 =
    "user=alice@example.com\x01"
    "auth=Bearer " +
    kToken + "\x01\x01";
const std::string kOauthbearer =
    "n,a=alice@example.com,\x01"
    "host=mail.example.com\x01"
    "port=993\x01"
    "auth=Bearer " +
    kToken + "\x01\x01";

std::string decoded(const SecretString& base64) {
  std::optional<std::string> text = base64_decode(base64.reveal());
  EXPECT_TRUE(text.has_value());
  return text.value_or("");
}

TEST(Xoauth2, ParsesGooglesFormat) {
  Result<BearerCredentials> parsed = parse_xoauth2(kXoauth2);
  ASSERT_TRUE(parsed) << parsed.error().detail;
  EXPECT_EQ(parsed.value().user, "alice@example.com");
  EXPECT_EQ(parsed.value().token.reveal(), kToken);
}

TEST(Xoauth2, AcceptsPairsInAnyOrderAndUnknownKeys) {
  Result<BearerCredentials> parsed = parse_xoauth2(
      "auth=bearer abc\x01"
      "extra=1\x01"
      "user=bob\x01\x01");
  ASSERT_TRUE(parsed) << parsed.error().detail;
  EXPECT_EQ(parsed.value().user, "bob");
  EXPECT_EQ(parsed.value().token.reveal(), "abc");
}

TEST(Xoauth2, RejectsMalformedShapes) {
  const std::string kMalformed[] = {
      "",
      "\x01",
      "\x01\x01",
      "user=alice\x01\x01",       // no auth=
      "auth=Bearer abc\x01\x01",  // no user=
      "user=\x01"
      "auth=Bearer abc\x01\x01",  // empty user
      "user=alice\x01"
      "auth=Bearer abc\x01",  // no final ^A
      "user=alice\x01"
      "auth=Bearer abc",  // no ^A at all
      "user=alice\x01"
      "auth=Bearer abc\x01\x01x",  // data after the end
      "user=alice\x01"
      "auth=Bearer abc\x01\x01\x01",  // an extra ^A
      "user=alice\x01"
      "auth=Basic abc\x01\x01",  // not Bearer
      "user=alice\x01"
      "auth=Bearer\x01\x01",  // no token
      "user=alice\x01"
      "auth=Bearer \x01\x01",  // empty token
      "user=alice\x01"
      "auth=Bearer a b\x01\x01",  // space inside the token
      "user=alice\x01"
      "auth=Bearer a=b\x01\x01",  // '=' only at the end
      "user=alice\x01"
      "auth=Bearer a\"b\x01\x01",  // not a b64token character
      "user=alice\x01"
      "auth=Bearer a\r\nb\x01\x01",  // CRLF inside the token
      "user=alice\x01"
      "auth=Bearer abc\x01"
      "auth=Bearer d\x01\x01",  // auth twice
      "user=alice\x01user=bob\x01"
      "auth=Bearer abc\x01\x01",  // user twice
      "user=al\x7f"
      "ice\x01"
      "auth=Bearer abc\x01\x01",  // control character in a value
      "user=al\xc3\xa9\x01"
      "auth=Bearer abc\x01\x01",  // 8-bit in a value
      "us er=alice\x01"
      "auth=Bearer abc\x01\x01",  // key not letters only
      "=alice\x01"
      "auth=Bearer abc\x01\x01",  // empty key
      "useralice\x01"
      "auth=Bearer abc\x01\x01",  // no '='
      "user=alice\0\x01"
      "auth=Bearer abc\x01\x01"s,  // NUL
  };
  for (const std::string& message : kMalformed) {
    Result<BearerCredentials> parsed = parse_xoauth2(message);
    EXPECT_FALSE(parsed) << "accepted: " << message;
    if (!parsed) {
      EXPECT_EQ(parsed.error().kind, ErrorKind::Protocol);
      EXPECT_EQ(parsed.error().detail.find("abc"), std::string::npos) << "token in the error text";
    }
  }
}

TEST(Xoauth2, RejectsEveryTruncationAndAnyTrailingByte) {
  for (size_t length = 0; length < kXoauth2.size(); ++length) {
    EXPECT_FALSE(parse_xoauth2(kXoauth2.substr(0, length))) << length;
  }
  for (const char extra : {'\x01', 'x', '\0', '\n'}) {
    EXPECT_FALSE(parse_xoauth2(kXoauth2 + extra)) << static_cast<int>(extra);
  }
}

TEST(Oauthbearer, ParsesRfc7628Example) {
  // RFC 7628 §4.1, with a token of the b64token alphabet.
  Result<BearerCredentials> parsed = parse_oauthbearer(kOauthbearer);
  ASSERT_TRUE(parsed) << parsed.error().detail;
  EXPECT_EQ(parsed.value().user, "alice@example.com");
  EXPECT_EQ(parsed.value().token.reveal(), kToken);
  EXPECT_EQ(parsed.value().host, "mail.example.com");
  EXPECT_EQ(parsed.value().port, "993");
}

TEST(Oauthbearer, DecodesTheSaslnameEscapes) {
  Result<BearerCredentials> parsed = parse_oauthbearer(
      "y,a=a=2Cb=3Dc,\x01"
      "auth=Bearer t\x01\x01");
  ASSERT_TRUE(parsed) << parsed.error().detail;
  EXPECT_EQ(parsed.value().user, "a,b=c");
}

TEST(Oauthbearer, AllowsNoAuthzidAndUnknownKeys) {
  Result<BearerCredentials> parsed = parse_oauthbearer(
      "n,,\x01"
      "mfa=x y\x01"
      "auth=BEARER t\x01\x01");
  ASSERT_TRUE(parsed) << parsed.error().detail;
  EXPECT_EQ(parsed.value().user, "");
  EXPECT_EQ(parsed.value().token.reveal(), "t");
}

TEST(Oauthbearer, RejectsMalformedShapes) {
  const std::string kMalformed[] = {
      "",
      "\x01",  // the answer to an error challenge
      "p=tls-unique,a=u,\x01"
      "auth=Bearer abc\x01\x01",  // channel binding
      "x,a=u,\x01"
      "auth=Bearer abc\x01\x01",  // bad cbind flag
      "n"
      "\x01"
      "auth=Bearer abc\x01\x01",  // no commas
      "n,a=u\x01"
      "auth=Bearer abc\x01\x01",  // GS2 header not closed
      "n,a=,\x01"
      "auth=Bearer abc\x01\x01",  // empty authzid
      "n,a=u=2,\x01"
      "auth=Bearer abc\x01\x01",  // bad escape
      "n,a=u=41,\x01"
      "auth=Bearer abc\x01\x01",  // escape other than =2C/=3D
      "n,b=u,\x01"
      "auth=Bearer abc\x01\x01",  // not a=
      "n,a=u,"
      "auth=Bearer abc\x01\x01",  // no ^A after the GS2 header
      "n,a=u,\x01\x01",           // no auth=
      "n,a=u,\x01"
      "auth=Bearer abc\x01",  // no final ^A
      "n,a=u,\x01"
      "auth=Bearer abc\x01\x01x",  // trailing data
      "n,a=u,\x01"
      "auth=Token abc\x01\x01",  // not Bearer
      "n,a=u,\x01"
      "auth=Bearer a b\x01\x01",  // bad token
      "n,a=u,\x01"
      "port=99999x\x01"
      "auth=Bearer abc\x01\x01",  // bad port
      "n,a=u,\x01"
      "port=\x01"
      "auth=Bearer abc\x01\x01",  // empty port
      "n,a=u,\x01"
      "host=a\x01"
      "host=b\x01"
      "auth=Bearer abc\x01\x01",  // host twice
      "n,a=u,\x01"
      "host=a\x02\x01"
      "auth=Bearer abc\x01\x01",  // control char
      "n,a=u,\x01"
      "auth=Bearer abc\x01"
      "auth=Bearer abc\x01\x01",  // auth twice
      "n,a=u,\x01"
      "user=x\x01\x01",  // XOAUTH2's key is not auth
  };
  for (const std::string& message : kMalformed) {
    Result<BearerCredentials> parsed = parse_oauthbearer(message);
    EXPECT_FALSE(parsed) << "accepted: " << message;
    if (!parsed) {
      EXPECT_EQ(parsed.error().kind, ErrorKind::Protocol);
    }
  }
}

TEST(Oauthbearer, RejectsEveryTruncationAndAnyTrailingByte) {
  for (size_t length = 0; length < kOauthbearer.size(); ++length) {
    EXPECT_FALSE(parse_oauthbearer(kOauthbearer.substr(0, length))) << length;
  }
  for (const char extra : {'\x01', 'x', '\0', '\n'}) {
    EXPECT_FALSE(parse_oauthbearer(kOauthbearer + extra)) << static_cast<int>(extra);
  }
}

TEST(OauthEncoding, RoundTripsThroughTheParsers) {
  const SecretString token(kToken);
  EXPECT_EQ(decoded(encode_xoauth2("alice@example.com", token)), kXoauth2);
  EXPECT_EQ(decoded(encode_oauthbearer("alice@example.com", token, "mail.example.com", "993")), kOauthbearer);
  for (const OAuthMechanism mechanism : {OAuthMechanism::Xoauth2, OAuthMechanism::Oauthbearer}) {
    Result<BearerCredentials> parsed =
        parse_oauth(mechanism, decoded(encode_oauth(mechanism, "a,b=c", token)));
    ASSERT_TRUE(parsed) << to_string(mechanism) << ": " << parsed.error().detail;
    EXPECT_EQ(parsed.value().user, "a,b=c");
    EXPECT_EQ(parsed.value().token.reveal(), kToken);
  }
}

TEST(OauthEncoding, OauthbearerEscapesTheAuthzid) {
  EXPECT_EQ(decoded(encode_oauthbearer("a,b=c", SecretString("t"))),
            "n,a=a=2Cb=3Dc,\x01"
            "auth=Bearer t\x01\x01");
}

TEST(OauthErrorChallenge, IsTheRfc7628Json) {
  const std::optional<std::string> bearer = base64_decode(error_challenge(OAuthMechanism::Oauthbearer));
  ASSERT_TRUE(bearer.has_value());
  EXPECT_EQ(*bearer, R"({"status":"invalid_token"})");
  const std::optional<std::string> google =
      base64_decode(error_challenge(OAuthMechanism::Xoauth2, "mail \"x\""));
  ASSERT_TRUE(google.has_value());
  EXPECT_EQ(*google, R"({"status":"401","schemes":"bearer","scope":"mail x"})");
}

TEST(OauthErrorChallenge, AcknowledgementsAreWhatServersExpect) {
  EXPECT_EQ(error_acknowledgement(OAuthMechanism::Oauthbearer), "AQ==");  // a single ^A
  EXPECT_EQ(error_acknowledgement(OAuthMechanism::Xoauth2), "");
}

}  // namespace
}  // namespace popgate::sasl
