// Sentinel replies: the master's address, ROLE and +switch-master, checked before they are trusted.
#include "gateway/io/redis_sentinel_replies.h"

#include <algorithm>
#include <vector>

namespace popgate::io {
namespace {

constexpr std::string_view kSwitchMaster = "+switch-master";
// An error reply's text goes into logs and /readyz: enough to say what it is.
constexpr size_t kMaxErrorText = 200;

bool is_text(const RedisReply& reply) {
  return reply.type == RedisReply::Type::String || reply.type == RedisReply::Type::Status;
}

// A sentinel's host and port as two strings; parse_host_port does the checking ("10.0.0.7",
// "::1", a name; a port 1..65535).
std::optional<HostPort> host_and_port(std::string_view host, std::string_view port) {
  if (host.empty() || port.empty()) return std::nullopt;
  const bool ipv6 = host.find(':') != std::string_view::npos;
  // Appended piece by piece: GCC 12's -O3 warns (-Wrestrict, a false positive) on "[" + string.
  std::string text;
  text.reserve(host.size() + port.size() + 3);
  if (ipv6) text += '[';
  text += host;
  if (ipv6) text += ']';
  text += ':';
  text += port;
  std::optional<HostPort> parsed = parse_host_port(text);
  if (!parsed || parsed->port == 0) return std::nullopt;
  return parsed;
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t at = 0; at < text.size();) {
    const size_t space = std::min(text.find(' ', at), text.size());
    if (space > at) out.push_back(text.substr(at, space - at));
    at = space + 1;
  }
  return out;
}

// ["message", "+switch-master", payload] or ["subscribe", "+switch-master", count].
bool is_push(const RedisReply& reply, std::string_view kind) {
  return reply.type == RedisReply::Type::Array && reply.elements.size() == 3 && is_text(reply.elements[0]) &&
         reply.elements[0].text == kind && is_text(reply.elements[1]) &&
         reply.elements[1].text == kSwitchMaster;
}

}  // namespace

Result<std::optional<HostPort>> parse_master_address(const RedisReply& reply) {
  if (reply.is_nil()) return std::optional<HostPort>();
  if (reply.is_error()) return make_error(ErrorKind::Temporary, reply.text.substr(0, kMaxErrorText));
  if (reply.type == RedisReply::Type::Array && reply.elements.size() == 2 && is_text(reply.elements[0]) &&
      is_text(reply.elements[1])) {
    std::optional<HostPort> address = host_and_port(reply.elements[0].text, reply.elements[1].text);
    if (address) return address;
  }
  return make_error(ErrorKind::Protocol, "not a master address (host and port)");
}

Result<std::string> parse_role(const RedisReply& reply) {
  if (reply.type == RedisReply::Type::Array && !reply.elements.empty() && is_text(reply.elements[0])) {
    return reply.elements[0].text;
  }
  return make_error(ErrorKind::Protocol, "not a ROLE reply");
}

bool is_switch_master_subscription(const RedisReply& reply) {
  return is_push(reply, "subscribe");
}

std::optional<HostPort> parse_switch_master(const RedisReply& reply, std::string_view master_name) {
  if (!is_push(reply, "message")) return std::nullopt;
  const std::vector<std::string_view> fields = words(reply.elements[2].text);
  if (fields.size() != 5 || fields[0] != master_name) return std::nullopt;
  return host_and_port(fields[3], fields[4]);
}

}  // namespace popgate::io
