// SASL PLAIN (RFC 4616): authzid NUL authcid NUL passwd.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/common/secret.h"

namespace popgate::sasl {

struct PlainCredentials {
  std::string authzid;  // empty when the client acts as itself
  std::string authcid;
  SecretString password;
};

// `message` is the decoded (not base64) client response.
std::optional<PlainCredentials> parse_plain(std::string_view message);
// The base64 initial response for an upstream AUTHENTICATE PLAIN.
SecretString encode_plain(std::string_view authzid, std::string_view authcid, const SecretString& password);

}  // namespace popgate::sasl
