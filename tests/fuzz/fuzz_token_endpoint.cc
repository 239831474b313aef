// fuzz_token_endpoint: what an OAuth2 token endpoint answers (RFC 6749 §5.1/§5.2, RFC 8628
// §3.2/§3.5), through parse_token_response and parse_device_authorization. Each parses or returns
// an error of the class its header names, never throws; error names and descriptions are
// sanitised and cut for the log; expires_in and interval are whole seconds, 0 when negative and
// clamped to kMaxTokenSeconds, whatever number or string of digits the server wrote.
//
// Input layout: three digits and a LF are the HTTP status ("400\n{...}"); without them the status
// is 200 and the whole input is the body.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/oauth2/token_endpoint.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

using nlohmann::json;
using oauth2::kMaxTokenSeconds;
using oauth2::TokenErrorCode;

// log::sanitize: printable ASCII only, cut to `max` characters plus at most one escape (\xNN)
// and the "..." that marks the cut.
void check_sanitised(const std::string& text, size_t max) {
  FUZZ_CHECK(text.size() <= max + 3 + 3);
  for (const char c : text) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
}

// The header's promise for expires_in and interval, worked out apart from seconds_field: a JSON
// number or a string of digits, in whole seconds; negative is 0, more than the cap is the cap;
// anything else (absent, "1.5", "-3", "", true) is nothing.
std::optional<uint64_t> promised_seconds(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_unsigned()) return std::min(it->get<uint64_t>(), kMaxTokenSeconds);
  if (it->is_number_integer())
    return it->get<int64_t>() < 0 ? 0 : std::min<uint64_t>(it->get<int64_t>(), kMaxTokenSeconds);
  if (it->is_number_float()) {
    const double value = std::floor(it->get<double>());
    if (std::isnan(value)) return std::nullopt;
    if (value <= 0) return 0;
    return value >= static_cast<double>(kMaxTokenSeconds) ? kMaxTokenSeconds : static_cast<uint64_t>(value);
  }
  if (!it->is_string()) return std::nullopt;
  std::string_view digits = it->get_ref<const std::string&>();
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  if (digits.size() > 10) return kMaxTokenSeconds;  // the cap has 8 digits
  return std::min<uint64_t>(std::stoull(std::string(digits)), kMaxTokenSeconds);
}

const char* code_name(TokenErrorCode code) {
  switch (code) {
    case TokenErrorCode::InvalidGrant:
      return "invalid_grant";
    case TokenErrorCode::AuthorizationPending:
      return "authorization_pending";
    case TokenErrorCode::SlowDown:
      return "slow_down";
    case TokenErrorCode::ExpiredToken:
      return "expired_token";
    case TokenErrorCode::AccessDenied:
      return "access_denied";
    default:
      return nullptr;  // None, Other, and InvalidClient (two names)
  }
}

void check_token_response(int status, std::string_view body, const json& parsed) {
  const Result<oauth2::TokenResponse> result = oauth2::parse_token_response(status, body);
  if (!result) {
    // A status a retry may cure is Temporary; garbage, or a 4xx without an error object, is Protocol.
    const bool retry = status >= 500 || status == 429 || status == 408;
    FUZZ_CHECK(result.error().kind == (retry ? ErrorKind::Temporary : ErrorKind::Protocol));
    FUZZ_CHECK(!result.error().detail.empty());
    return;
  }
  const oauth2::TokenResponse& response = result.value();
  FUZZ_CHECK(response.tokens.has_value() == (response.error == TokenErrorCode::None));
  if (response.tokens) {
    // RFC 6749 §5.1: a 200 with an access token.
    const oauth2::TokenSet& tokens = *response.tokens;
    FUZZ_CHECK(status == 200 && !tokens.access_token.empty());
    FUZZ_CHECK(parsed.is_object() && parsed.contains("access_token"));
    FUZZ_CHECK(tokens.expires_in_s == promised_seconds(parsed, "expires_in"));
    if (tokens.expires_in_s) FUZZ_CHECK(*tokens.expires_in_s <= kMaxTokenSeconds);
    check_sanitised(tokens.token_type, 40);
    return;
  }
  // RFC 6749 §5.2: the error the server stated, from a 4xx other than 429.
  FUZZ_CHECK(status >= 400 && status < 500 && status != 429);
  FUZZ_CHECK(parsed.is_object() && parsed.contains("error"));
  check_sanitised(response.error_name, 60);
  check_sanitised(response.description, 200);
  if (const char* name = code_name(response.error)) FUZZ_CHECK(response.error_name == name);
  if (response.error == TokenErrorCode::InvalidClient)
    FUZZ_CHECK(response.error_name == "invalid_client" || response.error_name == "unauthorized_client");
}

void check_device_authorization(int status, std::string_view body, const json& parsed) {
  const Result<oauth2::DeviceAuthorization> result = oauth2::parse_device_authorization(status, body);
  if (!result) {
    const ErrorKind kind = result.error().kind;
    FUZZ_CHECK(!result.error().detail.empty());
    if (status == 200) {
      FUZZ_CHECK(kind == ErrorKind::Protocol);
    } else if (status >= 500) {
      FUZZ_CHECK(kind == ErrorKind::Temporary);
    } else {
      FUZZ_CHECK(kind == ErrorKind::Temporary || kind == ErrorKind::Permanent);
    }
    return;
  }
  // RFC 8628 §3.2: a 200 with the three codes the user and the poll need.
  const oauth2::DeviceAuthorization& authorization = result.value();
  FUZZ_CHECK(status == 200 && parsed.is_object());
  FUZZ_CHECK(!authorization.device_code.empty() && !authorization.user_code.empty() &&
             !authorization.verification_uri.empty());
  FUZZ_CHECK(authorization.expires_in_s == promised_seconds(parsed, "expires_in").value_or(0));
  FUZZ_CHECK(authorization.interval_s == promised_seconds(parsed, "interval").value_or(5));
  FUZZ_CHECK(authorization.expires_in_s <= kMaxTokenSeconds && authorization.interval_s <= kMaxTokenSeconds);
}

void check_input(std::string_view input) {
  int status = 200;
  if (input.size() >= 4 && input[3] == '\n' &&
      input.substr(0, 3).find_first_not_of("0123456789") == std::string_view::npos) {
    status = (input[0] - '0') * 100 + (input[1] - '0') * 10 + (input[2] - '0');
    input.remove_prefix(4);
  }
  const json parsed = json::parse(input, nullptr, /*allow_exceptions=*/false);
  check_token_response(status, input, parsed);
  check_device_authorization(status, input, parsed);
}

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return popgate::fuzz::check_input_without_exceptions(data, size, popgate::fuzz::check_input);
}
