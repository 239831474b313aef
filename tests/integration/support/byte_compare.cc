// A GoogleTest assertion for large byte strings: reports sizes and the first difference, not 20 MiB.
#include "tests/integration/support/byte_compare.h"

#include <algorithm>
#include <cstdio>

namespace popgate::integration {

std::string escape_bytes(std::string_view bytes, size_t max) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (bytes.size() > max) out += "...";
  return out;
}

::testing::AssertionResult same_bytes(std::string_view expected, std::string_view actual) {
  if (expected == actual) return ::testing::AssertionSuccess();
  const size_t common = std::min(expected.size(), actual.size());
  size_t at = 0;
  while (at < common && expected[at] == actual[at]) ++at;
  const size_t from = at > 40 ? at - 40 : 0;
  return ::testing::AssertionFailure()
         << "sizes " << expected.size() << " (expected) vs " << actual.size()
         << " (actual); first difference at offset " << at << "\n  expected from offset " << from << ": \""
         << escape_bytes(expected.substr(from), 120) << "\"\n  actual   from offset " << from << ": \""
         << escape_bytes(actual.substr(from), 120) << "\"";
}

}  // namespace popgate::integration
