// XOAUTH2 and OAUTHBEARER (RFC 7628) client responses: strict parsing, encoding, error challenges.
#include "protocol/sasl/oauth_bearer.h"

#include "protocol/common/ascii.h"
#include "protocol/common/wipe.h"
#include "protocol/sasl/base64.h"

namespace popgate::sasl {

namespace {

constexpr char kKvsep = '\x01';  // RFC 7628 §3.1 kvsep

Error malformed(OAuthMechanism mechanism, std::string_view what) {
  return make_error(ErrorKind::Protocol, std::string(to_string(mechanism)) + ": " + std::string(what));
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 7628 §3.1: value = *(VCHAR / SP / HTAB / CR / LF).
bool is_value_char(char c) {
  return (c >= 0x20 && c <= 0x7e) || c == '\t' || c == '\r' || c == '\n';
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
bool is_b64token(std::string_view token) {
  size_t i = 0;
  while (i < token.size() &&
         (is_alpha(token[i]) || is_digit(token[i]) || token[i] == '-' || token[i] == '.' || token[i] == '_' ||
          token[i] == '~' || token[i] == '+' || token[i] == '/')) {
    ++i;
  }
  if (i == 0) return false;
  while (i < token.size() && token[i] == '=') ++i;
  return i == token.size();
}

// RFC 7628 §3.1 (and XOAUTH2, which has the same shape): *kvpair kvsep, each kvpair
// key "=" value kvsep. Fills `out` from user=, auth=, host=, port=; other keys are ignored
// (RFC 7628 §3.1 lets clients send extensions).
Result<BearerCredentials> parse_kvpairs(OAuthMechanism mechanism, std::string_view rest,
                                        BearerCredentials out, bool user_key) {
  bool seen_user = false;
  bool seen_auth = false;
  bool seen_host = false;
  bool seen_port = false;
  for (;;) {
    if (rest.empty()) return malformed(mechanism, "missing the final ^A");
    const size_t sep = rest.find(kKvsep);
    if (sep == std::string_view::npos) return malformed(mechanism, "key=value pair not ended by ^A");
    if (sep == 0) {
      if (rest.size() != 1) return malformed(mechanism, "data after the final ^A");
      break;
    }
    const std::string_view pair = rest.substr(0, sep);
    rest.remove_prefix(sep + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return malformed(mechanism, "key without '='");
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value = pair.substr(eq + 1);
    if (key.empty()) return malformed(mechanism, "empty key");
    for (const char c : key) {
      if (!is_alpha(c)) return malformed(mechanism, "key with a character other than a letter");
    }
    for (const char c : value) {
      if (!is_value_char(c)) return malformed(mechanism, "value with a control or 8-bit character");
    }
    auto once = [&](bool& seen) {
      const bool first = !seen;
      seen = true;
      return first;
    };
    if (key == "auth") {
      if (!once(seen_auth)) return malformed(mechanism, "auth= given twice");
      // RFC 7628 §3.1: auth-value = "Bearer" SP b64token (RFC 6750 §2.1); the scheme is
      // case-insensitive (RFC 7235 §2.1).
      constexpr std::string_view kScheme = "Bearer ";
      if (value.size() <= kScheme.size() || !ascii::iequals(value.substr(0, kScheme.size()), kScheme)) {
        return malformed(mechanism, "auth= is not \"Bearer <token>\"");
      }
      const std::string_view token = value.substr(kScheme.size());
      if (!is_b64token(token))
        return malformed(mechanism, "bearer token with characters RFC 6750 does not allow");
      out.token = SecretString(token);
    } else if (user_key && key == "user") {
      if (!once(seen_user)) return malformed(mechanism, "user= given twice");
      if (value.empty()) return malformed(mechanism, "empty user=");
      out.user = std::string(value);
    } else if (!user_key && key == "host") {
      if (!once(seen_host)) return malformed(mechanism, "host= given twice");
      out.host = std::string(value);
    } else if (!user_key && key == "port") {
      if (!once(seen_port)) return malformed(mechanism, "port= given twice");
      if (value.empty() || value.size() > 5) return malformed(mechanism, "port= is not a port number");
      for (const char c : value) {
        if (!is_digit(c)) return malformed(mechanism, "port= is not a port number");
      }
      out.port = std::string(value);
    }
  }
  if (!seen_auth) return malformed(mechanism, "no auth= pair");
  if (user_key && !seen_user) return malformed(mechanism, "no user= pair");
  return out;
}

// RFC 5801 §4 saslname: "=2C" and "=3D" stand for ',' and '='; no other '=' is allowed.
bool decode_saslname(std::string_view text, std::string& out) {
  if (text.empty()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      const std::string_view escape = text.substr(i, 3);
      if (escape == "=2C" || escape == "=2c") {
        out += ',';
      } else if (escape == "=3D" || escape == "=3d") {
        out += '=';
      } else {
        return false;
      }
      i += 2;
    } else if (c == ',' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return false;
    } else {
      out += c;
    }
  }
  return true;
}

std::string saslname(std::string_view user) {
  std::string out;
  for (const char c : user) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

SecretString encoded(std::string& message) {
  std::string text = base64_encode(message);
  wipe(message);
  return SecretString(std::move(text));
}

}  // namespace

const char* to_string(OAuthMechanism mechanism) {
  return mechanism == OAuthMechanism::Xoauth2 ? "XOAUTH2" : "OAUTHBEARER";
}

// Google's XOAUTH2: "user=" USER ^A "auth=Bearer " TOKEN ^A ^A.
Result<BearerCredentials> parse_xoauth2(std::string_view message) {
  return parse_kvpairs(OAuthMechanism::Xoauth2, message, {}, true);
}

// RFC 7628 §3.1: client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep.
Result<BearerCredentials> parse_oauthbearer(std::string_view message) {
  constexpr OAuthMechanism kMech = OAuthMechanism::Oauthbearer;
  if (message == "\x01") return malformed(kMech, "a lone ^A (the answer to an error challenge)");
  // gs2-cbind-flag: RFC 7628 §3.1 has no channel binding, so "p=" is refused.
  if (message.starts_with("p=")) return malformed(kMech, "channel binding is not supported");
  if (!message.starts_with("n,") && !message.starts_with("y,")) {
    return malformed(kMech, "GS2 header does not start with \"n,\" or \"y,\"");
  }
  std::string_view rest = message.substr(2);
  BearerCredentials out;
  if (rest.starts_with("a=")) {
    const size_t comma = rest.find(',');
    if (comma == std::string_view::npos) return malformed(kMech, "GS2 header not ended by ','");
    if (!decode_saslname(rest.substr(2, comma - 2), out.user)) return malformed(kMech, "bad a= authzid");
    rest.remove_prefix(comma);
  }
  if (!rest.starts_with(',')) return malformed(kMech, "GS2 header not ended by ','");
  rest.remove_prefix(1);
  if (!rest.starts_with(kKvsep)) return malformed(kMech, "no ^A after the GS2 header");
  rest.remove_prefix(1);
  return parse_kvpairs(kMech, rest, std::move(out), false);
}

Result<BearerCredentials> parse_oauth(OAuthMechanism mechanism, std::string_view message) {
  return mechanism == OAuthMechanism::Xoauth2 ? parse_xoauth2(message) : parse_oauthbearer(message);
}

SecretString encode_xoauth2(std::string_view user, const SecretString& token) {
  std::string message = "user=";
  message.append(user);
  message += kKvsep;
  message += "auth=Bearer ";
  message.append(token.reveal());
  message += kKvsep;
  message += kKvsep;
  return encoded(message);
}

SecretString encode_oauthbearer(std::string_view user, const SecretString& token, std::string_view host,
                                std::string_view port) {
  std::string message = "n,";
  if (!user.empty()) message += "a=" + saslname(user);
  message += ',';
  message += kKvsep;
  if (!host.empty()) message += "host=" + std::string(host) + kKvsep;
  if (!port.empty()) message += "port=" + std::string(port) + kKvsep;
  message += "auth=Bearer ";
  message.append(token.reveal());
  message += kKvsep;
  message += kKvsep;
  return encoded(message);
}

SecretString encode_oauth(OAuthMechanism mechanism, std::string_view user, const SecretString& token) {
  return mechanism == OAuthMechanism::Xoauth2 ? encode_xoauth2(user, token) : encode_oauthbearer(user, token);
}

std::string error_challenge(OAuthMechanism mechanism, std::string_view scope) {
  std::string json = mechanism == OAuthMechanism::Xoauth2 ? R"({"status":"401","schemes":"bearer")"
                                                          : R"({"status":"invalid_token")";
  if (!scope.empty()) {
    // A scope is a list of RFC 6749 §3.3 scope-tokens: printable ASCII without '"' and '\'.
    std::string clean;
    for (const char c : scope) {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') clean += c;
    }
    json += R"(,"scope":")" + clean + '"';
  }
  json += '}';
  return base64_encode(json);
}

std::string_view error_acknowledgement(OAuthMechanism mechanism) {
  return mechanism == OAuthMechanism::Xoauth2 ? "" : "AQ==";
}

}  // namespace popgate::sasl
