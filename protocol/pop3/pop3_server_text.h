// Reply texts and small text helpers shared by Pop3Server's two files (pop3_server.cc and
// pop3_server_commands.cc). Internal to protocol/pop3.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace popgate::pop3 {

inline constexpr std::string_view kEndOfList = ".\r\n";  // RFC 1939 §3: multi-line terminator
// An unknown keyword is echoed for the user's benefit, but only this much of it.
inline constexpr size_t kMaxEchoedKeyword = 16;
inline constexpr std::string_view kUnknownKeyword = "UNKNOWN";  // current_command() label for the rest

inline constexpr std::string_view kMissingArgument = "-ERR Missing argument.";
inline constexpr std::string_view kTooManyArguments = "-ERR Too many arguments.";
inline constexpr std::string_view kWrongStateBeforeLogin = "-ERR Unknown command in this state.";
inline constexpr std::string_view kWrongStateAfterLogin = "-ERR Already logged in.";
inline constexpr std::string_view kTemporaryFailure = "-ERR [SYS/TEMP] Temporary failure, try again later.";

// The keyword, cut and made printable, so a reply never carries control or 8-bit octets.
inline std::string sanitised_keyword(std::string_view keyword) {
  std::string out;
  for (const char c : keyword.substr(0, kMaxEchoedKeyword)) {
    const bool printable = c > ' ' && c < '\x7f';
    const char upper = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    out += printable ? upper : '?';
  }
  return out;
}

inline std::string unknown_command_reply(std::string_view keyword) {
  return "-ERR Unknown command: " + sanitised_keyword(keyword) + ".";
}

inline std::string_view trim_spaces(std::string_view text) {
  const size_t first = text.find_first_not_of(' ');
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

}  // namespace popgate::pop3
