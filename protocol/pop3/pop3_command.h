// Pop3Command: splitting one POP3 command line into a keyword and arguments (RFC 1939 §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace popgate::pop3 {

struct Pop3Command {
  std::string_view keyword;            // as sent; compare case-insensitively
  std::string_view rest;               // everything after the first space (PASS keeps spaces)
  std::vector<std::string_view> args;  // rest split on runs of spaces
};

// `line` excludes the CRLF. Returns nullopt when the line holds no keyword.
std::optional<Pop3Command> parse_command(std::string_view line);

// A POP3 number argument: decimal digits only, no sign, fits in 64 bits.
std::optional<uint64_t> parse_number(std::string_view text);

bool iequals(std::string_view a, std::string_view b);

}  // namespace popgate::pop3
