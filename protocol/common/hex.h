// Bytes as lower-case hexadecimal: digests (a script's SHA-1) and random tokens (lease owners, JWT ids).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace popgate {

inline std::string lower_hex(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(2 * bytes.size());
  for (uint8_t byte : bytes) {
    text += kHex[byte >> 4];
    text += kHex[byte & 0xf];
  }
  return text;
}

}  // namespace popgate
