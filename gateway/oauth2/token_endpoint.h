// TokenEndpoint: one OAuth2 grant request (RFC 6749 §4.4, §6; RFC 8628 §3.1, §3.4) as a
// form-encoded POST over HttpConnection, and the sans-I/O parts: form encoding and parsing the
// answers (RFC 6749 §5.1 / §5.2, RFC 8628 §3.2 / §3.5).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/io/http_connection.h"
#include "gateway/io/loop.h"
#include "gateway/oauth2/client_assertion.h"
#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate::oauth2 {

// application/x-www-form-urlencoded (WHATWG URL §5.2): unreserved octets as they are, space
// as '+', everything else %XX.
std::string form_encode(const std::vector<std::pair<std::string_view, std::string_view>>& fields);

// The error codes of RFC 6749 §5.2 and RFC 8628 §3.5 that change what popgate does.
enum class TokenErrorCode {
  None,
  InvalidGrant,          // the refresh token (or device code) was revoked, expired or is unknown
  InvalidClient,         // client authentication failed: a configuration problem
  AuthorizationPending,  // device grant: the user has not finished yet
  SlowDown,              // device grant: poll 5 s less often
  ExpiredToken,          // device grant: the device code expired
  AccessDenied,          // device grant: the user said no
  Other,
};

// The most seconds an expires_in or interval stands for: a year. A server that says more (1e30,
// a 40-digit string) is taken to say this, so the callers' milliseconds cannot overflow.
inline constexpr uint64_t kMaxTokenSeconds = 365ull * 24 * 3600;

// expires_in and interval (RFC 6749 §5.1, RFC 8628 §3.2) are read from a JSON number or a string
// of digits, in whole seconds (a fraction is dropped); a negative number is 0, more than
// kMaxTokenSeconds is kMaxTokenSeconds, and anything else counts as absent.
struct TokenSet {
  SecretString access_token;
  std::optional<uint64_t> expires_in_s;  // absent when the server did not say
  SecretString refresh_token;            // empty when the server did not rotate or issue one
  std::string token_type;
};

// A token endpoint's answer: tokens, or an error the server stated.
struct TokenResponse {
  std::optional<TokenSet> tokens;
  TokenErrorCode error = TokenErrorCode::None;
  std::string error_name;   // "invalid_grant"; sanitised
  std::string description;  // error_description, sanitised and cut: for the log only
};

// RFC 6749 §5.1 (200 with access_token) or §5.2 (400/401 with error). A 5xx, a 429 or a body
// that is neither is an Error: Temporary for the status codes, Protocol for garbage.
Result<TokenResponse> parse_token_response(int status, std::string_view body);

// RFC 8628 §3.2.
struct DeviceAuthorization {
  SecretString device_code;
  std::string user_code;
  std::string verification_uri;           // Google calls it verification_url
  std::string verification_uri_complete;  // optional
  uint64_t expires_in_s = 0;
  uint64_t interval_s = 5;  // §3.2: 5 when absent
};
// Not 200: the error the server stated is Permanent (Temporary from a 5xx), and no error object is
// Temporary; a 200 without device_code, user_code and verification_uri is Protocol.
Result<DeviceAuthorization> parse_device_authorization(int status, std::string_view body);

// How the client proves who it is to the token endpoint.
struct ClientAuthentication {
  std::string client_id;
  SecretString client_secret;                           // client_secret_post when not empty
  std::shared_ptr<const ClientAssertionSigner> signer;  // private_key_jwt (RFC 7523 §2.2) when set
};

// One endpoint URL; one request at a time (the token manager's single flight guarantees it).
class TokenEndpoint {
 public:
  using Done = std::function<void(Result<TokenResponse>)>;
  using DeviceDone = std::function<void(Result<DeviceAuthorization>)>;

  TokenEndpoint(io::Loop& loop, io::HttpUrl url, std::shared_ptr<io::TlsClientContext> tls,
                ClientAuthentication auth, uint64_t timeout_ms = 30'000);
  // Cancels what is in flight: no callback runs afterwards.
  ~TokenEndpoint();
  TokenEndpoint(const TokenEndpoint&) = delete;
  TokenEndpoint& operator=(const TokenEndpoint&) = delete;

  // RFC 6749 §6.
  void refresh(const SecretString& refresh_token, std::string_view scope, Done done);
  // RFC 6749 §4.4.
  void client_credentials(std::string_view scope, Done done);
  // RFC 8628 §3.4.
  void poll_device_code(const SecretString& device_code, Done done);
  // RFC 8628 §3.1, sent to this endpoint's URL (the device authorization endpoint).
  void authorize_device(std::string_view scope, DeviceDone done);

  const io::HttpUrl& url() const { return url_; }

 private:
  using Fields = std::vector<std::pair<std::string_view, std::string_view>>;
  void post(Fields fields, std::function<void(Result<io::HttpResponse>)> done);

  io::HttpUrl url_;
  ClientAuthentication auth_;
  std::unique_ptr<io::HttpConnection> connection_;
};

}  // namespace popgate::oauth2
