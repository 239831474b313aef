// SASL XOAUTH2 (Google's) and OAUTHBEARER (RFC 7628) messages: parsing client responses,
// building them for an upstream server, and the RFC 7628 §3.2.2 error challenge.
#pragma once

#include <string>
#include <string_view>

#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate::sasl {

enum class OAuthMechanism { Xoauth2, Oauthbearer };

// "XOAUTH2" or "OAUTHBEARER".
const char* to_string(OAuthMechanism mechanism);

struct BearerCredentials {
  std::string user;    // XOAUTH2 user=, OAUTHBEARER a= (decoded); empty when OAUTHBEARER has no a=
  SecretString token;  // the RFC 6750 b64token after "Bearer "
  std::string host;    // OAUTHBEARER host=, informative
  std::string port;    // OAUTHBEARER port=, digits, informative
};

// `message` is the decoded (not base64) client response. Errors are ErrorKind::Protocol with a
// detail that names what is wrong and never contains the token.
Result<BearerCredentials> parse_xoauth2(std::string_view message);
Result<BearerCredentials> parse_oauthbearer(std::string_view message);
Result<BearerCredentials> parse_oauth(OAuthMechanism mechanism, std::string_view message);

// The base64 initial client response for an upstream AUTHENTICATE.
SecretString encode_xoauth2(std::string_view user, const SecretString& token);
// RFC 7628 §3.1: "n,a=USER," ^A ["host=H" ^A] ["port=P" ^A] "auth=Bearer T" ^A ^A.
SecretString encode_oauthbearer(std::string_view user, const SecretString& token, std::string_view host = {},
                                std::string_view port = {});
SecretString encode_oauth(OAuthMechanism mechanism, std::string_view user, const SecretString& token);

// The server's error challenge after a refused token, base64: RFC 7628 §3.2.2
// {"status":"invalid_token"} for OAUTHBEARER; Google's {"status":"401","schemes":"bearer"} for
// XOAUTH2 (Dovecot sends the same two). `scope` is added when not empty.
std::string error_challenge(OAuthMechanism mechanism, std::string_view scope = {});

// What the client answers to an error challenge, base64, without CRLF (RFC 7628 §3.2.3: a
// single ^A for OAUTHBEARER, "AQ=="; an empty response for XOAUTH2).
std::string_view error_acknowledgement(OAuthMechanism mechanism);

}  // namespace popgate::sasl
