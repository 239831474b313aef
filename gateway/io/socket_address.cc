// SocketAddress: parsing "host:port", numeric addresses, formatting and the loopback tests.
#include "gateway/io/socket_address.h"

#include <uv.h>

#include <cstring>

#include "protocol/common/str_cat.h"

namespace popgate::io {

namespace {

// Decimal 0..65535, digits only (no sign, no spaces).
std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// A host is a name or a numeric address; whatever it is, it has no spaces or brackets.
bool plausible_host(std::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '[' || c == ']' || c == '/') return false;
  }
  return true;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return std::nullopt;
    port = rest.substr(1);
    // Brackets are for IPv6 literals only.
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // An IPv6 literal must be bracketed, or its last group would read as the port.
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  if (!plausible_host(host)) return std::nullopt;
  std::optional<uint16_t> number = parse_port(port);
  if (!number) return std::nullopt;
  return HostPort{std::string(host), *number};
}

std::string to_string(const HostPort& host_port) {
  const bool ipv6 = host_port.host.find(':') != std::string::npos;
  return ipv6 ? str_cat("[", host_port.host, "]:", std::to_string(host_port.port))
              : str_cat(host_port.host, ":", std::to_string(host_port.port));
}

std::optional<SocketAddress> SocketAddress::from_numeric(const HostPort& host_port) {
  SocketAddress address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
  if (uv_ip4_addr(host_port.host.c_str(), host_port.port, v4) == 0) return address;
  address.storage_ = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (uv_ip6_addr(host_port.host.c_str(), host_port.port, v6) == 0) return address;
  return std::nullopt;
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* address) {
  SocketAddress result;
  if (address == nullptr) return result;
  if (address->sa_family == AF_INET) {
    std::memcpy(&result.storage_, address, sizeof(sockaddr_in));
  } else if (address->sa_family == AF_INET6) {
    std::memcpy(&result.storage_, address, sizeof(sockaddr_in6));
  }
  return result;
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (storage_.ss_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&storage_), text, sizeof(text));
  } else if (storage_.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&storage_), text, sizeof(text));
  }
  return text;
}

uint16_t SocketAddress::port() const {
  if (storage_.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (storage_.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string SocketAddress::to_string() const {
  if (storage_.ss_family == AF_INET) return str_cat(host(), ":", std::to_string(port()));
  if (storage_.ss_family == AF_INET6) return str_cat("[", host(), "]:", std::to_string(port()));
  return "unspecified";
}

bool SocketAddress::is_loopback() const {
  if (storage_.ss_family == AF_INET) {
    uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr);
    return (ip >> 24) == 127;  // 127.0.0.0/8
  }
  if (storage_.ss_family == AF_INET6) {
    const in6_addr& ip = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&ip)) return true;
    // ::ffff:127.0.0.0/104, an IPv4 loopback peer on a dual-stack socket.
    return IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127;
  }
  return false;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  std::optional<SocketAddress> address = SocketAddress::from_numeric(HostPort{std::string(host), 0});
  return address && address->is_loopback();
}

}  // namespace popgate::io
