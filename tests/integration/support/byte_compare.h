// A GoogleTest assertion for large byte strings: reports sizes and the first difference, not 20 MiB.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace popgate::integration {

// Printable rendering of bytes for failure messages: \r, \n, \t and \xNN escapes.
std::string escape_bytes(std::string_view bytes, size_t max = 200);

// Success if equal; otherwise names the sizes and shows both sides around the first differing byte.
::testing::AssertionResult same_bytes(std::string_view expected, std::string_view actual);

}  // namespace popgate::integration
