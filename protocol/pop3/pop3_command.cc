// Splits a POP3 command line into keyword and arguments, and parses numeric arguments.
#include "protocol/pop3/pop3_command.h"

#include <limits>

#include "protocol/common/ascii.h"

namespace popgate::pop3 {

namespace {

constexpr char kSeparator = ' ';  // RFC 1939 §3: "separated by a single SPACE character"

}  // namespace

std::optional<Pop3Command> parse_command(std::string_view line) {
  const size_t space = line.find(kSeparator);
  Pop3Command command;
  command.keyword = line.substr(0, space);
  // A line that is empty or starts with a space has no keyword to dispatch on.
  if (command.keyword.empty()) return std::nullopt;
  if (space == std::string_view::npos) return command;

  command.rest = line.substr(space + 1);
  // Runs of spaces, including trailing ones some clients send, separate nothing.
  std::string_view remaining = command.rest;
  while (!remaining.empty()) {
    const size_t start = remaining.find_first_not_of(kSeparator);
    if (start == std::string_view::npos) break;
    remaining.remove_prefix(start);
    const size_t end = remaining.find(kSeparator);
    command.args.push_back(remaining.substr(0, end));
    if (end == std::string_view::npos) break;
    remaining.remove_prefix(end);
  }
  return command;
}

std::optional<uint64_t> parse_number(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) return std::nullopt;  // would overflow 64 bits
    value = value * 10 + digit;
  }
  return value;
}

bool iequals(std::string_view a, std::string_view b) {
  return ascii::iequals(a, b);
}

}  // namespace popgate::pop3
