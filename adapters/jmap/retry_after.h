// Retry-After (RFC 9110 §10.2.3): how long an HTTP server asks us to wait, without I/O or clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace popgate::http {

// A server asking for more than this is treated as asking for this: an hour is long enough for a
// POP3 client to come back, and a typo ("Retry-After: 86400000") must not lock a mailbox for years.
constexpr uint64_t kMaxRetryAfterMs = 3'600'000;

// The wait a Retry-After field value asks for, in milliseconds from `now_unix_seconds`: either
// delta-seconds ("120") or an HTTP-date in any of the three formats a recipient must accept
// (RFC 9110 §5.6.7: IMF-fixdate, obsolete RFC 850, asctime). A date in the past is 0; anything
// longer than kMaxRetryAfterMs is capped; anything else (garbage, a negative number, a bad date)
// is nullopt, as if the field were absent.
std::optional<uint64_t> parse_retry_after_ms(std::string_view value, int64_t now_unix_seconds);

// Seconds since 1970-01-01T00:00:00Z of an HTTP-date, or nullopt when it is not one.
std::optional<int64_t> parse_http_date(std::string_view text);

}  // namespace popgate::http
