// SASL PLAIN (RFC 4616) message parsing for clients and encoding for upstream servers.
#include "protocol/sasl/sasl_plain.h"

#include "protocol/common/wipe.h"
#include "protocol/sasl/base64.h"

namespace popgate::sasl {

namespace {

constexpr char kNul = '\0';

}  // namespace

std::optional<PlainCredentials> parse_plain(std::string_view message) {
  // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd: exactly two NULs.
  const size_t first = message.find(kNul);
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = message.find(kNul, first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (message.find(kNul, second + 1) != std::string_view::npos) return std::nullopt;

  const std::string_view authzid = message.substr(0, first);
  const std::string_view authcid = message.substr(first + 1, second - first - 1);
  const std::string_view passwd = message.substr(second + 1);
  // RFC 4616 §2: authcid = 1*SAFE and passwd = 1*SAFE; neither may be empty.
  if (authcid.empty() || passwd.empty()) return std::nullopt;
  return PlainCredentials{std::string(authzid), std::string(authcid), SecretString(passwd)};
}

SecretString encode_plain(std::string_view authzid, std::string_view authcid, const SecretString& password) {
  std::string message;
  message.reserve(authzid.size() + authcid.size() + password.size() + 2);
  message.append(authzid);
  message += kNul;
  message.append(authcid);
  message += kNul;
  message.append(password.reveal());
  std::string encoded = base64_encode(message);
  SecretString result(encoded);
  // Temporary copies of the password are cleared before their memory is released.
  wipe(message);
  wipe(encoded);
  return result;
}

}  // namespace popgate::sasl
