// --state-store URL parsing.
#include "gateway/config/state_store_url.h"

#include <charconv>

#include "gateway/config/config.h"

namespace popgate {
namespace {

constexpr uint16_t kRedisPort = 6379;
constexpr uint16_t kSentinelPort = 26379;

[[noreturn]] void refuse(std::string_view name, std::string_view text, const std::string& why) {
  throw ConfigError(std::string(name) + ": " + why + ", got '" + std::string(text) + "'");
}

io::HostPort parse_server(std::string_view name, std::string_view url, std::string_view text,
                          uint16_t default_port) {
  if (text.empty()) refuse(name, url, "expected a host name");
  // A port-less host: "redis", "10.0.0.7", "[::1]".
  const bool bracketed = text.front() == '[';
  const size_t close = bracketed ? text.find(']') : std::string_view::npos;
  const bool has_port = bracketed ? close != std::string_view::npos && close + 1 < text.size()
                                  : text.find(':') != std::string_view::npos;
  if (!has_port) {
    std::string host(bracketed ? text.substr(1, close == std::string_view::npos ? 0 : close - 1) : text);
    if (host.empty()) refuse(name, url, "expected a host name");
    return io::HostPort{std::move(host), default_port};
  }
  auto host_port = io::parse_host_port(text);
  if (!host_port || host_port->host.empty() || host_port->port == 0) {
    refuse(name, url, "expected HOST[:PORT]");
  }
  return *host_port;
}

unsigned parse_database(std::string_view name, std::string_view url, std::string_view text) {
  unsigned database = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), database);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || database > 15'999) {
    refuse(name, url, "expected a database number after the host");
  }
  return database;
}

}  // namespace

StateStoreUrl parse_state_store_url(std::string_view name, std::string_view text) {
  StateStoreUrl url;
  if (text == "local") return url;
  std::string_view rest;
  if (text.starts_with("redis://")) {
    url.kind = StateStoreKind::Redis;
    rest = text.substr(8);
  } else if (text.starts_with("rediss://")) {
    url.kind = StateStoreKind::Redis;
    url.tls = true;
    rest = text.substr(9);
  } else if (text.starts_with("redis-sentinel://")) {
    url.kind = StateStoreKind::Sentinel;
    rest = text.substr(17);
  } else {
    refuse(
        name, text,
        "expected local, redis://HOST[:PORT][/DB], rediss://... or redis-sentinel://HOST:PORT[,...]/MASTER");
  }
  if (rest.find('@') != std::string_view::npos) {
    // A password in a URL ends up in logs, process listings and shell histories.
    throw ConfigError(std::string(name) +
                      ": credentials do not belong in the URL: give state_store_user and "
                      "state_store_password_file (or state_store_password_env)");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) refuse(name, text, "expected no query or fragment");
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (url.kind == StateStoreKind::Redis) {
    url.servers.push_back(parse_server(name, text, authority, kRedisPort));
    if (!path.empty()) url.database = parse_database(name, text, path);
    return url;
  }
  for (size_t at = 0; at <= authority.size();) {
    const size_t comma = std::min(authority.find(',', at), authority.size());
    url.servers.push_back(parse_server(name, text, authority.substr(at, comma - at), kSentinelPort));
    at = comma + 1;
  }
  const size_t db_slash = path.find('/');
  url.master_name = std::string(path.substr(0, db_slash));
  if (url.master_name.empty()) refuse(name, text, "expected the master's name after the sentinels");
  if (db_slash != std::string_view::npos)
    url.database = parse_database(name, text, path.substr(db_slash + 1));
  return url;
}

std::string StateStoreUrl::to_string() const {
  if (kind == StateStoreKind::Local) return "local";
  std::string text = kind == StateStoreKind::Sentinel ? "redis-sentinel://" : tls ? "rediss://" : "redis://";
  for (size_t i = 0; i < servers.size(); ++i) {
    if (i > 0) text += ',';
    const bool ipv6 = servers[i].host.find(':') != std::string::npos;
    text += ipv6 ? "[" + servers[i].host + "]" : servers[i].host;
    text += ':' + std::to_string(servers[i].port);
  }
  if (kind == StateStoreKind::Sentinel) text += '/' + master_name;
  if (database != 0) text += '/' + std::to_string(database);
  return text;
}

}  // namespace popgate
