// The wire form of a POP3 multi-line body computed the slow, obvious way (RFC 1939 §3), for tests
// that compare DotStuffer against it.
#pragma once

#include <string>
#include <string_view>

namespace popgate::pop3 {

// The body after CRLF normalisation: CRLF stays, a bare LF becomes CRLF, a bare CR stays.
inline std::string normalise(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') {
      out += "\r\n";
      ++i;
    } else if (body[i] == '\n') {
      out += "\r\n";
    } else {
      out += body[i];
    }
  }
  return out;
}

// Straight from RFC 1939 §3, on the whole input at once.
inline std::string reference_wire(std::string_view body) {
  const std::string text = normalise(body);
  std::string out;
  bool line_start = true;
  for (const char c : text) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  if (!text.empty() && !text.ends_with("\r\n")) out += "\r\n";
  return out + ".\r\n";
}

}  // namespace popgate::pop3
