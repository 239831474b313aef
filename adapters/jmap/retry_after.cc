// Retry-After: delta-seconds and the three HTTP-date formats, parsed by hand (no locale, no libc
// time functions: strptime and timegm depend on the environment).
#include "adapters/jmap/retry_after.h"

#include <algorithm>
#include <array>

namespace popgate::http {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                       "Friday", "Saturday", "Sunday"};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A fixed-width run of digits at the front of `text`, consumed.
std::optional<int> take_digits(std::string_view& text, size_t width) {
  if (text.size() < width) return std::nullopt;
  int value = 0;
  for (size_t i = 0; i < width; ++i) {
    if (!is_digit(text[i])) return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  text.remove_prefix(width);
  return value;
}

bool take(std::string_view& text, std::string_view expected) {
  if (!text.starts_with(expected)) return false;
  text.remove_prefix(expected.size());
  return true;
}

// The day-name at the front (case-sensitive, as the grammar spells it), consumed.
template <size_t N>
bool take_one_of(std::string_view& text, const std::array<std::string_view, N>& names) {
  for (std::string_view name : names) {
    if (take(text, name)) return true;
  }
  return false;
}

std::optional<int> take_month(std::string_view& text) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (take(text, kMonths[i])) return static_cast<int>(i) + 1;
  }
  return std::nullopt;
}

// "HH:MM:SS", consumed; seconds of the day.
std::optional<int64_t> take_time_of_day(std::string_view& text) {
  auto hour = take_digits(text, 2);
  if (!hour || !take(text, ":")) return std::nullopt;
  auto minute = take_digits(text, 2);
  if (!minute || !take(text, ":")) return std::nullopt;
  auto second = take_digits(text, 2);
  // 60: a leap second, which the grammar allows.
  if (!second || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  return int64_t{*hour} * 3600 + *minute * 60 + *second;
}

// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

bool valid_date(int year, int month, int day) {
  static constexpr std::array<int, 12> kLengths = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kLengths[month - 1]) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month != 2 || day <= 28 || leap;
}

std::optional<int64_t> to_unix(int year, int month, int day, int64_t seconds_of_day) {
  if (!valid_date(year, month, day)) return std::nullopt;
  return days_from_civil(year, month, day) * 86400 + seconds_of_day;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<int64_t> parse_imf_fixdate(std::string_view text) {
  if (!take_one_of(text, kDays) || !take(text, ", ")) return std::nullopt;
  auto day = take_digits(text, 2);
  if (!day || !take(text, " ")) return std::nullopt;
  auto month = take_month(text);
  if (!month || !take(text, " ")) return std::nullopt;
  auto year = take_digits(text, 4);
  if (!year || !take(text, " ")) return std::nullopt;
  auto time = take_time_of_day(text);
  if (!time || !take(text, " GMT") || !text.empty()) return std::nullopt;
  return to_unix(*year, *month, *day, *time);
}

// Obsolete RFC 850 date: "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year that would be more
// than 50 years in the future is in the past century (RFC 9110 §5.6.7); relative to 2000 here,
// which only matters for dates no server sends any more.
std::optional<int64_t> parse_rfc850_date(std::string_view text) {
  if (!take_one_of(text, kLongDays) || !take(text, ", ")) return std::nullopt;
  auto day = take_digits(text, 2);
  if (!day || !take(text, "-")) return std::nullopt;
  auto month = take_month(text);
  if (!month || !take(text, "-")) return std::nullopt;
  auto year = take_digits(text, 2);
  if (!year || !take(text, " ")) return std::nullopt;
  auto time = take_time_of_day(text);
  if (!time || !take(text, " GMT") || !text.empty()) return std::nullopt;
  return to_unix(*year < 50 ? 2000 + *year : 1900 + *year, *month, *day, *time);
}

// asctime: "Sun Nov  6 08:49:37 1994" (the day padded with a space).
std::optional<int64_t> parse_asctime_date(std::string_view text) {
  if (!take_one_of(text, kDays) || !take(text, " ")) return std::nullopt;
  auto month = take_month(text);
  if (!month || !take(text, " ")) return std::nullopt;
  // date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
  const std::optional<int> day = take(text, " ") ? take_digits(text, 1) : take_digits(text, 2);
  if (!day || !take(text, " ")) return std::nullopt;
  auto time = take_time_of_day(text);
  if (!time || !take(text, " ")) return std::nullopt;
  auto year = take_digits(text, 4);
  if (!year || !text.empty()) return std::nullopt;
  return to_unix(*year, *month, *day, *time);
}

}  // namespace

std::optional<int64_t> parse_http_date(std::string_view text) {
  if (auto date = parse_imf_fixdate(text)) return date;
  if (auto date = parse_rfc850_date(text)) return date;
  return parse_asctime_date(text);
}

std::optional<uint64_t> parse_retry_after_ms(std::string_view value, int64_t now_unix_seconds) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (is_digit(value.front())) {
    // delta-seconds = 1*DIGIT; counted only as far as the cap, so no length overflows.
    uint64_t seconds = 0;
    for (char c : value) {
      if (!is_digit(c)) return std::nullopt;
      if (seconds <= kMaxRetryAfterMs / 1000) seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
    }
    return std::min(seconds * 1000, kMaxRetryAfterMs);
  }
  auto date = parse_http_date(value);
  if (!date) return std::nullopt;
  if (*date <= now_unix_seconds) return 0;
  const auto seconds = static_cast<uint64_t>(*date - now_unix_seconds);
  return seconds > kMaxRetryAfterMs / 1000 ? kMaxRetryAfterMs : seconds * 1000;
}

}  // namespace popgate::http
