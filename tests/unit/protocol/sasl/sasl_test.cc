// Tests for base64 (RFC 4648) and SASL PLAIN (RFC 4616), and the SecretString they carry.
#include <gtest/gtest.h>

#include <string>

#include "protocol/common/secret.h"
#include "protocol/sasl/base64.h"
#include "protocol/sasl/sasl_plain.h"

namespace popgate::sasl {
namespace {

using namespace std::string_literals;

// RFC 4648 §10 test vectors.
const std::pair<std::string, std::string> kVectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : kVectors) EXPECT_EQ(base64_encode(plain), encoded) << plain;
}

TEST(Base64, DecodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : kVectors) {
    const std::optional<std::string> decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64, RoundTripsEveryOctetValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t length = 0; length <= all.size(); ++length) {
    const std::string data = all.substr(all.size() - length);
    const std::optional<std::string> decoded = base64_decode(base64_encode(data));
    ASSERT_TRUE(decoded.has_value()) << length;
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base64, EncodesHighOctets) {
  EXPECT_EQ(base64_encode("\xff\xfe\xfd"), "//79");
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, RejectsMalformedInput) {
  const char* const kMalformed[] = {
      "Zg",        // padding is required
      "Zg=",       // short padding
      "Z",         // not a multiple of 4
      "Zm9vY",     //
      "Zm9v\r\n",  // no line breaks
      "Zm 9v",     // no whitespace
      " Zm9v",     //
      "Zm9v====",  // padding alone
      "====",      //
      "=Zm9",      // padding first
      "Zg==Zg==",  // padding in the middle
      "Zm=v",      //
      "Z=g=",      //
      "Z===",      // three pad characters
      "Zh==",      // non-zero bits under the padding (RFC 4648 §3.5)
      "Zm9=",      //
      "Zm-_",      // the URL-safe alphabet is a different encoding
      "Zm9v\x80\x80\x80\x80",
      "Zm9\0",
  };
  for (const char* text : kMalformed) EXPECT_FALSE(base64_decode(text).has_value()) << text;
  EXPECT_FALSE(base64_decode("Zm9\0"s).has_value());
}

TEST(SaslPlain, ParsesRfc4616Examples) {
  // RFC 4616 §4: "\0tim\0tanstaaftanstaaf" and "Ursel\0Kurt\0xipj3plmq".
  std::optional<PlainCredentials> tim = parse_plain("\0tim\0tanstaaftanstaaf"s);
  ASSERT_TRUE(tim.has_value());
  EXPECT_EQ(tim->authzid, "");
  EXPECT_EQ(tim->authcid, "tim");
  EXPECT_EQ(tim->password.reveal(), "tanstaaftanstaaf");

  std::optional<PlainCredentials> kurt = parse_plain("Ursel\0Kurt\0xipj3plmq"s);
  ASSERT_TRUE(kurt.has_value());
  EXPECT_EQ(kurt->authzid, "Ursel");
  EXPECT_EQ(kurt->authcid, "Kurt");
  EXPECT_EQ(kurt->password.reveal(), "xipj3plmq");
}

TEST(SaslPlain, KeepsSpacesAndHighOctetsInPassword) {
  std::optional<PlainCredentials> c = parse_plain("\0bob\0 pass w\xc3\xb6rd "s);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->password.reveal(), " pass w\xc3\xb6rd ");
}

TEST(SaslPlain, RejectsMalformedMessages) {
  const std::string kMalformed[] = {
      ""s,                 // nothing
      "bob"s,              // no NUL
      "bob\0secret"s,      // one NUL
      "\0bob\0se\0cret"s,  // three NULs
      "\0\0secret"s,       // empty authcid
      "alice\0\0secret"s,  //
      "\0bob\0"s,          // empty password
      "\0\0"s,             //
      "\0bob\0secret\0"s,  // trailing NUL
  };
  for (const std::string& message : kMalformed) {
    EXPECT_FALSE(parse_plain(message).has_value()) << base64_encode(message);
  }
}

TEST(SaslPlain, EncodesForUpstream) {
  EXPECT_EQ(encode_plain("", "tim", SecretString("tanstaaftanstaaf")).reveal(),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  EXPECT_EQ(encode_plain("Ursel", "Kurt", SecretString("xipj3plmq")).reveal(),
            "VXJzZWwAS3VydAB4aXBqM3BsbXE=");
}

TEST(SaslPlain, EncodeThenParseRoundTrips) {
  const SecretString encoded = encode_plain("", "bob", SecretString("pass word "));
  const std::optional<std::string> decoded = base64_decode(encoded.reveal());
  ASSERT_TRUE(decoded.has_value());
  const std::optional<PlainCredentials> c = parse_plain(*decoded);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->authcid, "bob");
  EXPECT_EQ(c->password.reveal(), "pass word ");
}

TEST(SecretString, WipesOnMove) {
  SecretString a("hunter2");
  SecretString b(std::move(a));
  EXPECT_EQ(b.reveal(), "hunter2");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
}

TEST(SecretString, WipesOnMoveAssignAndCopiesOnCopy) {
  SecretString a("hunter2");
  SecretString c(a);
  EXPECT_EQ(c.reveal(), "hunter2");
  SecretString b("old");
  b = std::move(a);
  EXPECT_EQ(b.reveal(), "hunter2");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace popgate::sasl
