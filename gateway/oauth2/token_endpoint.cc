// TokenEndpoint: the grant requests and the parsing of what token endpoints answer.
#include "gateway/oauth2/token_endpoint.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "gateway/log.h"

namespace popgate::oauth2 {
namespace {

constexpr size_t kMaxTokenResponse = 256 * 1024;  // tokens are a few KiB; anything huge is wrong

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '*';
}

TokenErrorCode error_code(std::string_view name) {
  if (name == "invalid_grant") return TokenErrorCode::InvalidGrant;
  if (name == "invalid_client" || name == "unauthorized_client") return TokenErrorCode::InvalidClient;
  if (name == "authorization_pending") return TokenErrorCode::AuthorizationPending;
  if (name == "slow_down") return TokenErrorCode::SlowDown;
  if (name == "expired_token") return TokenErrorCode::ExpiredToken;
  if (name == "access_denied") return TokenErrorCode::AccessDenied;
  return TokenErrorCode::Other;
}

// A JSON object, or nothing (HTML error pages from proxies, empty bodies).
std::optional<nlohmann::json> json_object(std::string_view body) {
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

// expires_in and interval (token_endpoint.h): numbers, or strings of digits from some servers,
// clamped to [0, kMaxTokenSeconds] before any conversion: a double past uint64_t's range (1e30)
// would be undefined behaviour to cast, and a huge count would overflow the callers' milliseconds.
std::optional<uint64_t> seconds_field(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_unsigned()) return std::min(it->get<uint64_t>(), kMaxTokenSeconds);
  if (it->is_number_integer()) {
    const int64_t value = it->get<int64_t>();
    return value < 0 ? 0 : std::min(static_cast<uint64_t>(value), kMaxTokenSeconds);
  }
  if (it->is_number_float()) {
    const double value = it->get<double>();
    if (std::isnan(value)) return std::nullopt;
    if (value <= 0) return 0;
    if (value >= static_cast<double>(kMaxTokenSeconds)) return kMaxTokenSeconds;
    return static_cast<uint64_t>(value);  // whole seconds; in range, so defined
  }
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    // Counted only as far as the cap, so no length of digits overflows.
    uint64_t seconds = 0;
    for (const char c : text)
      seconds = std::min(seconds * 10 + static_cast<uint64_t>(c - '0'), kMaxTokenSeconds);
    return seconds;
  }
  return std::nullopt;
}

std::string string_field(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Error http_status_error(int status) {
  return make_error(ErrorKind::Temporary, "token endpoint answered HTTP " + std::to_string(status));
}

}  // namespace

std::string form_encode(const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  auto append = [&](std::string_view text) {
    for (unsigned char c : text) {
      if (unreserved(c)) {
        out += static_cast<char>(c);
      } else if (c == ' ') {
        out += '+';
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  };
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    append(name);
    out += '=';
    append(value);
  }
  return out;
}

Result<TokenResponse> parse_token_response(int status, std::string_view body) {
  std::optional<nlohmann::json> object = json_object(body);
  TokenResponse response;
  if (status == 200) {
    if (!object) return make_error(ErrorKind::Protocol, "token endpoint: the answer is not a JSON object");
    auto token = object->find("access_token");
    if (token == object->end() || !token->is_string() || token->get_ref<const std::string&>().empty())
      return make_error(ErrorKind::Protocol, "token endpoint: no access_token in the answer");
    TokenSet tokens;
    tokens.access_token = SecretString(token->get<std::string>());
    tokens.expires_in_s = seconds_field(*object, "expires_in");
    tokens.refresh_token = SecretString(string_field(*object, "refresh_token"));
    tokens.token_type = log::sanitize(string_field(*object, "token_type"), 40);
    // The parsed copy holds the tokens too: wipe it.
    for (const char* name : {"access_token", "refresh_token", "id_token"}) {
      if (auto it = object->find(name); it != object->end() && it->is_string()) {
        SecretString wipe(std::move(it->get_ref<std::string&>()));
      }
    }
    response.tokens = std::move(tokens);
    return response;
  }
  // RFC 6749 §5.2: 400, or 401 for invalid_client. Some servers use other 4xx for the same.
  if (status >= 400 && status < 500 && status != 429 && object && object->contains("error")) {
    response.error_name = log::sanitize(string_field(*object, "error"), 60);
    response.error = error_code(string_field(*object, "error"));
    response.description = log::sanitize(string_field(*object, "error_description"), 200);
    return response;
  }
  if (status >= 500 || status == 429 || status == 408) return http_status_error(status);
  return make_error(ErrorKind::Protocol, "token endpoint answered HTTP " + std::to_string(status) +
                                             " without an OAuth2 error object");
}

Result<DeviceAuthorization> parse_device_authorization(int status, std::string_view body) {
  std::optional<nlohmann::json> object = json_object(body);
  if (status != 200) {
    if (object && object->contains("error")) {
      return make_error(status >= 500 ? ErrorKind::Temporary : ErrorKind::Permanent,
                        "device authorization refused: " + log::sanitize(string_field(*object, "error"), 60) +
                            " " + log::sanitize(string_field(*object, "error_description"), 200));
    }
    return http_status_error(status);
  }
  if (!object)
    return make_error(ErrorKind::Protocol, "device authorization: the answer is not a JSON object");
  DeviceAuthorization authorization;
  authorization.device_code = SecretString(string_field(*object, "device_code"));
  authorization.user_code = string_field(*object, "user_code");
  authorization.verification_uri = string_field(*object, "verification_uri");
  if (authorization.verification_uri.empty())
    authorization.verification_uri = string_field(*object, "verification_url");
  authorization.verification_uri_complete = string_field(*object, "verification_uri_complete");
  authorization.expires_in_s = seconds_field(*object, "expires_in").value_or(0);
  authorization.interval_s = seconds_field(*object, "interval").value_or(5);
  if (authorization.device_code.empty() || authorization.user_code.empty() ||
      authorization.verification_uri.empty())
    return make_error(ErrorKind::Protocol,
                      "device authorization: device_code, user_code or verification_uri missing");
  return authorization;
}

TokenEndpoint::TokenEndpoint(io::Loop& loop, io::HttpUrl url, std::shared_ptr<io::TlsClientContext> tls,
                             ClientAuthentication auth, uint64_t timeout_ms)
    : url_(std::move(url)), auth_(std::move(auth)) {
  io::HttpOptions options;
  options.connect_timeout_ms = timeout_ms;
  options.request_timeout_ms = timeout_ms;
  options.max_buffered_body = kMaxTokenResponse;
  connection_ = std::make_unique<io::HttpConnection>(loop, url_, std::move(tls), options);
}

TokenEndpoint::~TokenEndpoint() = default;

void TokenEndpoint::post(Fields fields, std::function<void(Result<io::HttpResponse>)> done) {
  fields.emplace_back("client_id", auth_.client_id);
  std::string assertion;
  if (auth_.signer) {
    // RFC 7523 §3: the audience is the token endpoint's URL.
    assertion =
        auth_.signer->sign(auth_.client_id, url_.to_string(), static_cast<int64_t>(std::time(nullptr)));
    fields.emplace_back("client_assertion_type", kJwtBearerAssertionType);
    fields.emplace_back("client_assertion", assertion);
  } else if (!auth_.client_secret.empty()) {
    // client_secret_post (RFC 6749 §2.3.1): what Microsoft and Google both accept, and free of
    // the double encoding pitfalls of HTTP Basic with form-encoded credentials.
    fields.emplace_back("client_secret", auth_.client_secret.reveal());
  }
  io::HttpRequest request;
  request.method = "POST";
  request.target = url_.target;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  request.body = form_encode(fields);
  request.sensitive = true;
  connection_->request(std::move(request), std::move(done));
}

void TokenEndpoint::refresh(const SecretString& refresh_token, std::string_view scope, Done done) {
  Fields fields = {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token.reveal()}};
  if (!scope.empty()) fields.emplace_back("scope", scope);
  post(std::move(fields), [done = std::move(done)](Result<io::HttpResponse> result) {
    if (!result) return done(result.error());
    done(parse_token_response(result.value().head.status, result.value().body));
  });
}

void TokenEndpoint::client_credentials(std::string_view scope, Done done) {
  Fields fields = {{"grant_type", "client_credentials"}};
  if (!scope.empty()) fields.emplace_back("scope", scope);
  post(std::move(fields), [done = std::move(done)](Result<io::HttpResponse> result) {
    if (!result) return done(result.error());
    done(parse_token_response(result.value().head.status, result.value().body));
  });
}

void TokenEndpoint::poll_device_code(const SecretString& device_code, Done done) {
  Fields fields = {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                   {"device_code", device_code.reveal()}};
  post(std::move(fields), [done = std::move(done)](Result<io::HttpResponse> result) {
    if (!result) return done(result.error());
    done(parse_token_response(result.value().head.status, result.value().body));
  });
}

void TokenEndpoint::authorize_device(std::string_view scope, DeviceDone done) {
  Fields fields;
  if (!scope.empty()) fields.emplace_back("scope", scope);
  post(std::move(fields), [done = std::move(done)](Result<io::HttpResponse> result) {
    if (!result) return done(result.error());
    done(parse_device_authorization(result.value().head.status, result.value().body));
  });
}

}  // namespace popgate::oauth2
