// SocketAddress: an IPv4/IPv6 address and port, parsed from "host:port" or "[v6]:port".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popgate::io {

struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
};

// "127.0.0.1:110", "[::1]:110", "mail.example.com:993". Port 0 is allowed (pick a free one).
std::optional<HostPort> parse_host_port(std::string_view text);
// The other way round: "127.0.0.1:110", "[::1]:110", "mail.example.com:993".
std::string to_string(const HostPort& host_port);

class SocketAddress {
 public:
  // Numeric addresses only (listeners never resolve names).
  static std::optional<SocketAddress> from_numeric(const HostPort& host_port);
  static SocketAddress from_sockaddr(const sockaddr* address);

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  std::string host() const;
  uint16_t port() const;
  std::string to_string() const;  // "127.0.0.1:110", "[::1]:110"
  bool is_loopback() const;

 private:
  sockaddr_storage storage_{};
};

// A configured host that cannot lead off this machine, so credentials may go to it in the clear:
// the name "localhost" as written (HttpUrl lowercases its hosts; an IMAP host is as configured),
// or a numeric address that is_loopback() (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). No other
// name is resolved or guessed at: "127.example.com" is a name like any other.
bool is_loopback_host(std::string_view host);

}  // namespace popgate::io
