// Base64 (RFC 4648 §4) for SASL exchanges.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace popgate::sasl {

std::string base64_encode(std::string_view data);
// Strict: padding required, no whitespace, no characters outside the alphabet.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace popgate::sasl
