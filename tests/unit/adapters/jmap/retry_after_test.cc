// Retry-After (RFC 9110 §10.2.3): delta-seconds, the three HTTP-date formats, the cap, garbage.
#include "adapters/jmap/retry_after.h"

#include <gtest/gtest.h>

namespace popgate::http {
namespace {

// RFC 9110 §5.6.7's example instant, Sun, 06 Nov 1994 08:49:37 GMT.
constexpr int64_t kExample = 784111777;

TEST(RetryAfter, DeltaSeconds) {
  EXPECT_EQ(parse_retry_after_ms("120", kExample), 120'000u);
  EXPECT_EQ(parse_retry_after_ms("0", kExample), 0u);
  EXPECT_EQ(parse_retry_after_ms(" \t5 ", kExample), 5'000u);  // OWS around the field value
  EXPECT_EQ(parse_retry_after_ms("007", kExample), 7'000u);
}

TEST(RetryAfter, LongWaitsAreCappedWithoutOverflow) {
  EXPECT_EQ(parse_retry_after_ms("3600", kExample), kMaxRetryAfterMs);
  EXPECT_EQ(parse_retry_after_ms("3601", kExample), kMaxRetryAfterMs);
  EXPECT_EQ(parse_retry_after_ms("99999999999999999999999999999999", kExample), kMaxRetryAfterMs);
}

TEST(RetryAfter, TheThreeDateFormatsAreTheSameInstant) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kExample);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kExample);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kExample);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599);
}

TEST(RetryAfter, ADateIsTheWaitFromNow) {
  EXPECT_EQ(parse_retry_after_ms("Sun, 06 Nov 1994 08:51:37 GMT", kExample), 120'000u);
  EXPECT_EQ(parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", kExample), 0u);
  EXPECT_EQ(parse_retry_after_ms("Sat, 05 Nov 1994 08:49:37 GMT", kExample), 0u);  // past: no wait
  EXPECT_EQ(parse_retry_after_ms("Mon, 07 Nov 1994 08:49:37 GMT", kExample), kMaxRetryAfterMs);
}

TEST(RetryAfter, GarbageIsIgnored) {
  for (std::string_view bad :
       {"", "   ", "-5", "5s", "1.5", "soon", "+5", "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT", "sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Xyz 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT trailing",
        "Sun Nov 6 08:49:37 1994"}) {
    EXPECT_EQ(parse_retry_after_ms(bad, kExample), std::nullopt) << "'" << bad << "'";
  }
}

TEST(RetryAfter, EveryPrefixOfADateIsRefusedNotMisread) {
  const std::string date = "Sun, 06 Nov 1994 08:49:37 GMT";
  for (size_t length = 1; length < date.size(); ++length) {
    EXPECT_EQ(parse_http_date(date.substr(0, length)), std::nullopt) << length;
  }
}

}  // namespace
}  // namespace popgate::http
