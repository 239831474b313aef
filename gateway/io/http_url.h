// HttpUrl: http and https URLs as RFC 3986 parses and resolves them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popgate::io {

// "https://host:port/path?query"; http and https only; IPv6 hosts in brackets.
struct HttpUrl {
  bool tls = false;
  std::string host;    // without brackets
  uint16_t port = 0;   // 80 or 443 when absent
  std::string target;  // path and query, at least "/"

  static std::optional<HttpUrl> parse(std::string_view text);
  // A reference (absolute URL, "/absolute/path" or "relative/path") resolved against this URL
  // (RFC 3986 §5.2, without dot-segment tricks beyond "./" and "../").
  std::optional<HttpUrl> resolve(std::string_view reference) const;
  bool same_origin(const HttpUrl& other) const;
  // "host" or "[::1]", with ":port" unless it is the scheme's default: the Host header (RFC 9112 §3.2).
  std::string authority() const;
  std::string to_string() const;
};

// Controls, space and DEL never appear in a URL we accept or a request line we send.
bool has_control_or_space(std::string_view text);

}  // namespace popgate::io
