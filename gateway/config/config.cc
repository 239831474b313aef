// Command-line, JSON config file and POPGATE_* environment parsing: one table of options serves all three.
#include "gateway/config/config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gateway/config/option_table.h"

namespace popgate {
namespace {

using options::Address;
using options::Addresses;
using options::Count;
using options::Custom;
using options::Empty;
using options::Flag;
using options::Option;
using options::Seconds;
using options::set_limit;
using options::Text;
using options::Zero;

// The URL of --upstream (and of a route); errors begin with `name`.
UpstreamUrl parse_upstream_url(std::string_view name, std::string_view text);

void set_upstream(Config& config, std::string_view name, std::string_view text) {
  config.upstream = parse_upstream_url(name, text);
}

void set_delete_mode(Config& config, std::string_view name, std::string_view text) {
  if (text == "expunge") {
    config.delete_mode = DeleteMode::Expunge;
  } else if (text == "keep") {
    config.delete_mode = DeleteMode::Keep;
  } else if (text == "seen") {
    config.delete_mode = DeleteMode::Seen;
  } else if (text.starts_with("move:") && text.size() > 5) {
    config.delete_mode = DeleteMode::Move;
    config.move_target = std::string(text.substr(5));
  } else {
    throw ConfigError(std::string(name) + ": expected expunge, keep, seen or move:MAILBOX, got '" +
                      std::string(text) + "'");
  }
}

AuthMode parse_auth_mode(std::string_view name, std::string_view text) {
  if (text == "passthrough") return AuthMode::Passthrough;
  if (text == "local-accounts") return AuthMode::LocalAccounts;
  throw ConfigError(std::string(name) + ": expected passthrough or local-accounts, got '" +
                    std::string(text) + "'");
}

void set_auth_mode(Config& config, std::string_view name, std::string_view text) {
  config.auth_mode = parse_auth_mode(name, text);
}

void set_state_store(Config& config, std::string_view name, std::string_view text) {
  config.state_store = parse_state_store_url(name, text);
}

void set_state_store_failure(Config& config, std::string_view name, std::string_view text) {
  if (text == "open") {
    config.state_store_failure = StateStoreFailure::Open;
  } else if (text == "closed") {
    config.state_store_failure = StateStoreFailure::Closed;
  } else {
    throw ConfigError(std::string(name) + ": expected open or closed, got '" + std::string(text) + "'");
  }
}

void set_log_level(Config& config, std::string_view name, std::string_view text) {
  auto level = log::parse_level(text);
  if (!level) {
    throw ConfigError(std::string(name) + ": expected debug, info, warn or error, got '" + std::string(text) +
                      "'");
  }
  config.log_level = *level;
}

void set_log_format(Config& config, std::string_view name, std::string_view text) {
  auto format = log::parse_format(text);
  if (!format) {
    throw ConfigError(std::string(name) + ": expected json or text, got '" + std::string(text) + "'");
  }
  config.log_format = *format;
}

// Every setting but --config and --check-config, in --help's order. The file's key is the name with
// '_' for '-', but for no-maildrop-lock, no-admin and accounts.
constinit const Option kOptions[] = {
    {"listen", "listen", Addresses{&Config::listen, "127.0.0.1:110"},
     "ADDR:PORT  POP3 listener (repeatable; default 127.0.0.1:110)"},
    // Its errors show --listen's example (and, on the command line, its name), as they always have.
    {"listen-tls", "listen_tls", Addresses{&Config::listen_tls, "127.0.0.1:110"},
     "ADDR:PORT  implicit-TLS POP3 listener (repeatable; needs --tls-cert)"},
    {"tls-cert", "tls_cert", Text{&Config::tls_cert},
     "FILE       PEM certificate chain: enables STLS and --listen-tls"},
    {"tls-key", "tls_key", Text{&Config::tls_key}, "FILE       PEM private key for --tls-cert"},
    {"tls-handshake-timeout", "tls_handshake_timeout",
     Seconds{&Config::tls_handshake_timeout_ms, Zero::Refused},
     "SECONDS    TLS handshake timeout, both sides (default 10)"},
    {"upstream", "upstream", Custom{set_upstream},
     "URL        imaps://HOST[:PORT], imap://HOST[:PORT][?tls=none], jmaps://HOST[:PORT][/PATH] or "
     "jmap://..."},
    {"upstream-ca", "upstream_ca", Text{&Config::upstream_ca},
     "FILE       CA bundle for the upstream (default: the system's)"},
    {"upstream-insecure", "upstream_insecure", Flag{&Config::upstream_insecure},
     "           do not verify the upstream certificate"},
    {"mailbox", "mailbox", Text{&Config::mailbox, Empty::Refused},
     "NAME       upstream mailbox to serve (default INBOX)"},
    {"delete-mode", "delete_mode", Custom{set_delete_mode},
     "MODE       expunge (default), keep, seen (flag \\Seen, delete nothing) or move:MAILBOX"},
    {"mark-seen", "mark_seen", Flag{&Config::mark_seen},
     "           RETR sets \\Seen upstream (default: flags untouched)"},
    {"only-unseen", "only_unseen", Flag{&Config::only_unseen},
     "           list only messages without \\Seen"},
    {"max-age-days", "max_age_days", Count{&Config::max_age_days, 0, 36'500},
     "DAYS       list only messages received in the last DAYS days (default 0: any age)"},
    {"max-messages", "max_messages", Count{&Config::max_messages, 0, 10'000'000},
     "N          list only the newest N of what the other filters leave (default 0: all)"},
    {"max-message-size", "max_message_size", Count{&Config::max_message_size, 0, 1ull << 40},
     "BYTES      leave larger messages out of the listing (default 0: any size)"},
    {"idle-timeout", "idle_timeout", Seconds{&Config::idle_timeout_ms},
     "SECONDS    autologout after inactivity (default 600)"},
    {"auth-failure-delay", "auth_failure_delay", Seconds{&Config::auth_failure_delay_ms},
     "SECONDS    delay before answering a failed login; doubles with each one (default 2)"},
    {"upstream-timeout", "upstream_timeout", Seconds{&Config::upstream_timeout_ms, Zero::Refused},
     "SECONDS    upstream connect and response timeout (default 60)"},
    {"update-timeout", "update_timeout", Seconds{&Config::update_timeout_ms, Zero::Refused},
     "SECONDS    longest QUIT UPDATE before -ERR [SYS/TEMP] (default 120)"},
    {"upstream-reuse-time", "upstream_reuse_time", Seconds{&Config::upstream_reuse_time_ms},
     "SECONDS    keep a logged-in upstream session after QUIT for the same user and credential "
     "(default 90; 0: off)"},
    {"upstream-reuse-max", "upstream_reuse_max", Count{&Config::upstream_reuse_max, 1, 1'000'000},
     "N          parked upstream sessions per worker and upstream, the oldest evicted (default 1000)"},
    {"workers", "workers", Count{&Config::workers, 0, 64},
     "N          event loops (threads) accepting POP3 connections, at most 64 (default 0: one per CPU)"},
    {"max-sessions", "max_sessions", Count{&Config::max_sessions, 0, 10'000'000},
     "N          sessions in total (default 10000; 0: no limit)"},
    {"max-sessions-per-ip", "max_sessions_per_ip", Count{&Config::max_sessions_per_ip, 0, 10'000'000},
     "N          sessions per client address, IPv6 per /64 (default 256; 0: no limit)"},
    {"max-connection-rate-per-ip", "max_connection_rate_per_ip",
     Count{&Config::max_connection_rate_per_ip, 0, 1'000'000},
     "N          connections a second per client address, bursts of N (default 0: no limit)"},
    {"auth-throttle-window", "auth_throttle_window", Seconds{&Config::auth_throttle_window_ms, Zero::Refused},
     "SECONDS    failed logins are counted over this window (default 300)"},
    {"auth-throttle-max-failures", "auth_throttle_max_failures",
     Count{&Config::auth_throttle_max_failures, 0, 1'000'000},
     "N          failed logins per user name in the window, then [LOGIN-DELAY] (default 10; 0: never)"},
    {"auth-throttle-max-failures-per-ip", "auth_throttle_max_failures_per_ip",
     Count{&Config::auth_throttle_max_failures_per_ip, 0, 1'000'000},
     "N          failed logins per client address in the window, then [LOGIN-DELAY] (default 100; 0: never)"},
    {"auth-failure-delay-max", "auth_failure_delay_max", Seconds{&Config::auth_failure_delay_max_ms},
     "SECONDS    the failure delay doubles with each failure up to this (default 30)"},
    {"max-upstream-sessions-per-identity", "max_upstream_sessions_per_identity",
     Count{&Config::max_upstream_sessions_per_identity, 0, 1'000'000},
     "N          upstream sessions open at once per upstream identity (default 8; 0: no limit)"},
    {"upstream-backoff", "upstream_backoff", Seconds{&Config::upstream_backoff_ms},
     "SECONDS    after the upstream throttles an identity, its logins get [LOGIN-DELAY] this long, "
     "doubling (default 5; 0: off)"},
    {"upstream-backoff-max", "upstream_backoff_max", Seconds{&Config::upstream_backoff_max_ms},
     "SECONDS    the upstream backoff doubles up to this (default 300)"},
    {"allow-core-dumps", "allow_core_dumps", Flag{&Config::allow_core_dumps},
     "           let a crash write a core file (it may hold passwords; default: none)"},
    {"token-dir", "token_dir", Text{&Config::token_dir, Empty::Refused},
     "DIR        OAuth2 refresh tokens are kept here, one file per client (a volume)"},
    {"max-line-length", "max_line_length", Custom{set_limit<&pop3::Limits::max_command_line, 16, 65536>},
     "OCTETS     longest POP3 command line (default 512)"},
    {"max-bad-commands", "max_bad_commands",
     Custom{set_limit<&pop3::Limits::max_bad_commands_after_login, 1, 1000>},
     "N          bad commands in a row before disconnect, after login (default 20)"},
    {"max-bad-commands-auth", "max_bad_commands_auth",
     Custom{set_limit<&pop3::Limits::max_bad_commands_before_login, 1, 1000>},
     "N          bad commands in a row before disconnect, before login (default 3)"},
    // The file says "maildrop_lock": true/false; the flag turns the lock off.
    {"no-maildrop-lock", "maildrop_lock", Flag{&Config::maildrop_lock},
     "           allow concurrent sessions for one mailbox (default: [IN-USE])"},
    {"state-store", "state_store", Custom{set_state_store},
     "URL        state shared by replicas: local (default), redis://HOST[:PORT][/DB] or rediss://..."},
    {"state-store-ca", "state_store_ca", Text{&Config::state_store_ca},
     "FILE       CA bundle for rediss:// (default: the system's)"},
    {"state-store-user", "state_store_user", Text{&Config::state_store_user},
     "NAME       Redis ACL user (default: AUTH with the password alone)"},
    {"state-store-password-file", "state_store_password_file", Text{&Config::state_store_password_file},
     "FILE       the state store's password, read at start"},
    {"state-store-password-env", "state_store_password_env", Text{&Config::state_store_password_env},
     "NAME       or the environment variable that holds it"},
    {"state-store-key-file", "state_store_key_file", Text{&Config::state_store_key_file},
     "FILE       32 bytes (base64 or hex) sealing OAuth2 tokens kept in a shared state store"},
    {"state-store-prefix", "state_store_prefix", Text{&Config::state_store_prefix},
     "TEXT       prefix of every key popgate keeps in the store (default popgate:)"},
    {"state-store-connect-timeout", "state_store_connect_timeout",
     Seconds{&Config::state_store_connect_timeout_ms, Zero::Refused},
     "SECONDS    connecting and logging in to the state store (default 2)"},
    {"state-store-timeout", "state_store_timeout", Seconds{&Config::state_store_timeout_ms, Zero::Refused},
     "SECONDS    each state store command (default 1)"},
    {"state-store-failure", "state_store_failure", Custom{set_state_store_failure},
     "MODE       while the store is unreachable: open (default: each replica's own locks) or closed "
     "(logins get [SYS/TEMP])"},
    {"maildrop-lease", "maildrop_lease", Seconds{&Config::maildrop_lease_ms, Zero::Refused},
     "SECONDS    a shared maildrop lock's or upstream session place's lease, renewed every third of it "
     "(default 30)"},
    {"allow-plaintext-auth", "allow_plaintext_auth", Flag{&Config::allow_plaintext_auth},
     "           accept passwords on non-TLS connections from non-loopback clients"},
    {"log-level", "log_level", Custom{set_log_level}, "LEVEL      debug, info (default), warn or error"},
    {"log-format", "log_format", Custom{set_log_format},
     "FORMAT     json (default: one JSON object a line) or text (key=value)"},
    {"drain-timeout", "drain_timeout", Seconds{&Config::drain_timeout_ms},
     "SECONDS    on SIGTERM, how long sessions may finish before shutdown (default 30)"},
    {"admin", "admin", Address{&Config::admin, "127.0.0.1:9110"},
     "ADDR:PORT  admin HTTP endpoint: /metrics, /healthz, /readyz (default 127.0.0.1:9110)"},
    // The file says "admin_enabled": true/false; the flag turns the endpoint off.
    {"no-admin", "admin_enabled", Flag{&Config::admin_enabled}, "           no admin endpoint"},
    {"accounts", "accounts_file", Text{&Config::accounts_file},
     "FILE       local accounts (JSON): logins mapped to upstream identities; re-read on SIGHUP"},
    {"auth-mode", "auth_mode", Custom{set_auth_mode},
     "MODE       passthrough or local-accounts, for logins no route matches (default: local-accounts "
     "with --accounts, else passthrough)"},
    {"readiness-probe-interval", "readiness_probe_interval",
     Seconds{&Config::readiness_probe_interval_ms, Zero::Refused},
     "SECONDS    /readyz: how often to try a TCP connect to the upstream (default 10)"},
};

const Option* find_name(std::string_view name) {
  for (const auto& option : kOptions) {
    if (name == option.name) return &option;
  }
  return nullptr;
}

const Option* find_key(std::string_view key) {
  for (const auto& option : kOptions) {
    if (key == option.key) return &option;
  }
  return nullptr;
}

// `routes` receives the file's "routes" untouched: they inherit top-level settings, which the
// command line and the environment may still change (parse_routes, at the end).
void load_config_file(const std::string& path, Config& config, nlohmann::json& routes) {
  std::ifstream in(path);
  if (!in) throw ConfigError("config: cannot read " + path);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e400
    throw ConfigError("config: " + path + " is not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw ConfigError("config: " + path + ": the top level must be an object");
  // Named references, not structured bindings: clang 14 (scripts/fuzz.sh) cannot capture those.
  for (const auto& item : root.items()) {
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    if (key == "routes") {
      if (!value.is_array()) throw ConfigError("config: field 'routes' must be an array of objects");
      routes = value;
      continue;
    }
    if (key == "oauth2_clients") {  // a structure of its own: gateway/oauth2/oauth2_config.cc
      if (!value.is_object()) throw ConfigError("config: field 'oauth2_clients' must be an object");
      config.oauth2_clients_json = value.dump();
      continue;
    }
    const Option* option = find_key(key);
    if (!option) throw ConfigError("config: unknown field '" + key + "'");
    const std::string field = "config: field '" + key + "'";
    if (option->is_flag()) {
      if (!value.is_boolean()) throw ConfigError(field + " must be true or false");
      option->set(config, value.get<bool>());
    } else if (option->is_list()) {
      if (!value.is_array()) throw ConfigError(field + " must be an array of strings");
      option->clear(config);
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string element = "config: field '" + key + "[" + std::to_string(i) + "]'";
        if (!value[i].is_string()) throw ConfigError(element + " must be a string");
        option->set(config, element, value[i].get<std::string>());
      }
    } else {
      if (!value.is_string() && !value.is_number())
        throw ConfigError(field + " must be a string or a number");
      option->set(config, field, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
}

// A route's "match": "*", "*@domain" or an exact login (no other wildcards).
void check_route_match(const std::string& match, const std::string& where) {
  if (match == "*") return;
  std::string_view rest = match;
  if (rest.starts_with("*@")) rest.remove_prefix(2);
  if (rest.empty() || rest.find('*') != std::string_view::npos ||
      rest.find_first_of(" \t\r\n") != std::string_view::npos) {
    throw ConfigError(where + ": 'match' must be an exact login, *@DOMAIN or *, got '" + match + "'");
  }
}

// The settings a route may set (the rest are the process's).
constexpr std::string_view kRouteFields[] = {"upstream",     "upstream_ca",  "upstream_insecure", "mailbox",
                                             "delete_mode",  "mark_seen",    "only_unseen",       "max_age_days",
                                             "max_messages", "max_message_size"};

std::vector<RouteConfig> parse_routes(const nlohmann::json& routes, const Config& base) {
  std::vector<RouteConfig> parsed;
  for (size_t i = 0; i < routes.size(); ++i) {
    const std::string where = "config: routes[" + std::to_string(i) + "]";
    const nlohmann::json& entry = routes[i];
    if (!entry.is_object()) throw ConfigError(where + " must be an object");
    auto match = entry.find("match");
    if (match == entry.end() || !match->is_string())
      throw ConfigError(where + ": 'match' (a string) is missing");
    RouteConfig route;
    route.match = match->get<std::string>();
    check_route_match(route.match, where);
    for (const auto& earlier : parsed) {
      if (earlier.match == route.match) {
        throw ConfigError(where + ": an earlier route has the same match '" + route.match + "'");
      }
    }
    // A copy of the top-level settings, changed by the route's own fields.
    Config settings = base;
    for (const auto& item : entry.items()) {
      const std::string& key = item.key();
      const nlohmann::json& value = item.value();
      if (key == "match") continue;
      const std::string field = where + ": field '" + key + "'";
      if (key == "mode") {
        if (!value.is_string()) throw ConfigError(field + " must be passthrough or local-accounts");
        route.mode = parse_auth_mode(field, value.get<std::string>());
        continue;
      }
      const bool per_route =
          std::find(std::begin(kRouteFields), std::end(kRouteFields), key) != std::end(kRouteFields);
      const Option* option = per_route ? find_key(key) : nullptr;
      if (!option) throw ConfigError(where + ": unknown or not per-route field '" + key + "'");
      if (option->is_flag()) {
        if (!value.is_boolean()) throw ConfigError(field + " must be true or false");
        option->set(settings, value.get<bool>());
      } else {
        if (!value.is_string() && !value.is_number()) throw ConfigError(field + " must be a string or a number");
        option->set(settings, field, value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
    if (settings.upstream.kind() == UpstreamScheme::Imaps && settings.upstream.tls_none) {
      throw ConfigError(where + ": upstream: ?tls=none contradicts imaps://");
    }
    copy_route_settings(settings, route);
    parsed.push_back(std::move(route));
  }
  return parsed;
}

// Local accounts need the accounts file.
void check_auth_modes(const Config& config) {
  if (!config.accounts_file.empty()) return;
  if (config.auth_mode == AuthMode::LocalAccounts) {
    throw ConfigError("auth-mode: local-accounts needs --accounts FILE");
  }
  for (const auto& route : config.routes) {
    if (route.mode == AuthMode::LocalAccounts) {
      throw ConfigError("config: route '" + route.match + "': mode local-accounts needs --accounts FILE");
    }
  }
}

// The store's settings agree with each other; the password itself is read at start (gateway/state/).
void check_state_store(const Config& config) {
  if (!config.state_store_password_file.empty() && !config.state_store_password_env.empty()) {
    throw ConfigError("state-store: give one of state_store_password_file and state_store_password_env");
  }
  if (!config.state_store.shared()) return;
  if (!config.state_store_user.empty() && config.state_store_password_file.empty() &&
      config.state_store_password_env.empty()) {
    throw ConfigError("state-store-user needs state_store_password_file or state_store_password_env");
  }
  if (!config.state_store_ca.empty() && !config.state_store.tls) {
    throw ConfigError("state-store-ca needs a rediss:// store");
  }
}

constexpr std::string_view kEnvironmentPrefix = "POPGATE_";

// Kubernetes service links: a Service named "popgate" or "popgate-<x>" puts
// POPGATE_[<X>_]SERVICE_HOST, ..._SERVICE_PORT[_<NAME>], ..._PORT and ..._PORT_<n>_TCP[_...]
// into every pod of its namespace. They are not settings and not typos: ignore them.
bool is_kubernetes_service_link(std::string_view name) {
  // Try every "_"-separated position where the suffix could begin.
  for (size_t at = 0;;) {
    std::string_view rest = name.substr(at);
    if (rest == "SERVICE_HOST" || rest == "SERVICE_PORT" || rest.starts_with("SERVICE_PORT_") ||
        rest == "PORT") {
      return true;
    }
    if (rest.starts_with("PORT_") && rest.size() > 5 && rest[5] >= '0' && rest[5] <= '9') return true;
    size_t next = name.find('_', at);
    if (next == std::string_view::npos) return false;
    at = next + 1;
  }
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

struct EnvironmentSetting {
  std::string name;  // POPGATE_IDLE_TIMEOUT
  std::string value;
  const Option* option = nullptr;  // null for POPGATE_CONFIG
};

// The POPGATE_* entries of `environment`; any other POPGATE_* variable is an error.
std::vector<EnvironmentSetting> environment_settings(const std::vector<std::string>& environment) {
  std::vector<EnvironmentSetting> settings;
  for (const std::string& entry : environment) {
    std::string_view text = entry;
    if (!text.starts_with(kEnvironmentPrefix)) continue;
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;  // not NAME=value: not a variable
    EnvironmentSetting setting{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)), nullptr};
    if (setting.name == environment_variable_name("config")) {
      if (setting.value.empty()) {
        throw ConfigError("environment variable " + setting.name + ": must not be empty");
      }
      settings.push_back(std::move(setting));
      continue;
    }
    for (const auto& option : kOptions) {
      if (setting.name == environment_variable_name(option.name)) setting.option = &option;
    }
    if (!setting.option) {
      std::string_view unprefixed = std::string_view(setting.name).substr(kEnvironmentPrefix.size());
      if (is_kubernetes_service_link(unprefixed)) continue;
      throw ConfigError("unknown environment variable " + setting.name + " (see --help)");
    }
    settings.push_back(std::move(setting));
  }
  return settings;
}

void apply_environment(const std::vector<EnvironmentSetting>& settings, Config& config) {
  for (const auto& setting : settings) {
    const Option* option = setting.option;
    if (!option) continue;  // POPGATE_CONFIG: already read
    const std::string where = "environment variable " + setting.name;
    if (option->is_flag()) {
      if (setting.value != "true" && setting.value != "false") {
        throw ConfigError(where + ": expected true or false, got '" + setting.value + "'");
      }
      // POPGATE_NO_MAILDROP_LOCK=true is --no-maildrop-lock.
      bool given = setting.value == "true";
      option->set(config, option->turns_off() ? !given : given);
    } else if (option->is_list()) {
      // Comma-separated; replaces the file's and the command line's list.
      option->clear(config);
      std::string_view rest = setting.value;
      for (;;) {
        auto comma = rest.find(',');
        option->set(config, where, trim(rest.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else {
      option->set(config, where, setting.value);
    }
  }
}

}  // namespace

std::string environment_variable_name(std::string_view option) {
  std::string name(kEnvironmentPrefix);
  for (char c : option)
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string UpstreamUrl::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + path +
         (tls_none ? "?tls=none" : "");
}

namespace {

UpstreamUrl parse_upstream_url(std::string_view name, std::string_view text) {
  auto fail = [&](const std::string& why) {
    return ConfigError(std::string(name) + ": " + why + " (got '" + std::string(text) + "')");
  };
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) throw fail("expected imaps://HOST[:PORT] or imap://HOST[:PORT]");
  UpstreamUrl url;
  url.scheme = std::string(text.substr(0, scheme_end));
  uint16_t default_port = 0;
  if (url.scheme == "imap") {
    default_port = 143;
  } else if (url.scheme == "imaps") {
    default_port = 993;
  } else if (url.scheme == "jmap") {
    default_port = 80;
  } else if (url.scheme == "jmaps") {
    default_port = 443;
  } else {
    throw fail("scheme must be imap, imaps, jmap or jmaps");
  }
  std::string_view rest = text.substr(scheme_end + 3);
  if (auto query = rest.find('?'); query != std::string_view::npos) {
    if (rest.substr(query + 1) != "tls=none" || url.is_jmap())
      throw fail("the only query understood is imap's ?tls=none");
    url.tls_none = true;
    rest = rest.substr(0, query);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    rest = rest.substr(0, slash);
    if (url.is_jmap() && path != "/") {
      url.path = std::string(path);
    } else if (path != "/") {
      throw fail("an imap URL has no path");
    }
  }
  if (url.is_jmap() && url.path.empty()) url.path = "/.well-known/jmap";
  if (rest.find_first_of("/?#@") != std::string_view::npos) throw fail("unexpected query or user part");
  bool has_port = false;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    has_port = close != std::string_view::npos && close + 1 < rest.size() && rest[close + 1] == ':';
  } else {
    has_port = rest.find(':') != std::string_view::npos;
  }
  auto host_port = io::parse_host_port(has_port ? std::string(rest)
                                                : std::string(rest) + ":" + std::to_string(default_port));
  if (!host_port || host_port->port == 0) throw fail("expected HOST[:PORT] with a port from 1 to 65535");
  url.host = host_port->host;
  url.port = host_port->port;
  return url;
}

}  // namespace

UpstreamUrl parse_upstream_url(std::string_view text) {
  return parse_upstream_url("upstream", text);
}

std::string usage() {
  std::ostringstream out;
  out << "Usage: popgate --upstream imap://HOST[:PORT] [--listen ADDR:PORT]... [options]\n"
      << "A POP3 gateway in front of an IMAP mailbox.\n\n"
      << "  --config FILE                  JSON file with the same settings (field names with '_')\n";
  for (const auto& option : kOptions) {
    std::string name = std::string("--") + option.name;
    out << "  " << name << std::string(name.size() < 22 ? 22 - name.size() : 1, ' ') << " " << option.help
        << "\n";
  }
  out << "  --check-config                 check settings and certificates, print \"configuration OK\", "
         "exit\n"
      << "  --help                         this text\n"
      << "  --version                      the version\n\n"
      << "Every option can also be set by an environment variable: POPGATE_ and the option's name in\n"
      << "upper case with '_' for '-' (POPGATE_IDLE_TIMEOUT=30, POPGATE_MARK_SEEN=true|false,\n"
      << "POPGATE_LISTEN=127.0.0.1:110,127.0.0.1:1110, POPGATE_CONFIG=FILE). Precedence: defaults, then\n"
      << "the config file, then the command line, then the environment (which overrides both).\n"
      << "SIGHUP reads all three again; SIGTERM drains (see --drain-timeout).\n";
  return out.str();
}

CommandLineOutcome parse_command_line(int argc, const char* const* argv, Config& config, std::string& out) {
  return parse_command_line(argc, argv, {}, config, out);
}

CommandLineOutcome parse_command_line(int argc, const char* const* argv,
                                      const std::vector<std::string>& environment, Config& config,
                                      std::string& out) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  // First pass: --help, --version and --config, so the file sits below the command line.
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out = usage();
      return CommandLineOutcome::ExitSuccess;
    }
    if (args[i] == "--version") {
      out = std::string("popgate ") + POPGATE_VERSION + "\n";
      return CommandLineOutcome::ExitSuccess;
    }
    if (args[i] == "--config") {
      if (i + 1 >= args.size()) throw ConfigError("--config needs a value");
      config.config_file = std::string(args[++i]);
    }
  }
  const std::vector<EnvironmentSetting> from_environment = environment_settings(environment);
  for (const auto& setting : from_environment) {
    if (!setting.option) config.config_file = setting.value;  // POPGATE_CONFIG
  }
  nlohmann::json routes;
  if (!config.config_file.empty()) load_config_file(config.config_file, config, routes);

  std::vector<const Option*> lists_from_cli;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--config") {
      ++i;
      continue;
    }
    if (arg == "--check-config") {
      config.check_config = true;
      continue;
    }
    std::string_view value;
    bool has_inline_value = false;
    if (!arg.starts_with("--"))
      throw ConfigError("unexpected argument '" + std::string(arg) + "' (see --help)");
    arg.remove_prefix(2);
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    const Option* option = find_name(arg);
    if (!option) throw ConfigError("unknown option '--" + std::string(arg) + "' (see --help)");
    if (option->is_flag()) {
      if (has_inline_value) throw ConfigError("--" + std::string(arg) + " takes no value");
      option->set(config, !option->turns_off());
      continue;
    }
    if (!has_inline_value) {
      if (i + 1 >= args.size()) throw ConfigError("--" + std::string(arg) + " needs a value");
      value = args[++i];
    }
    // A list given on the command line replaces the file's, it does not extend it.
    if (option->is_list() &&
        std::find(lists_from_cli.begin(), lists_from_cli.end(), option) == lists_from_cli.end()) {
      option->clear(config);
      lists_from_cli.push_back(option);
    }
    // Errors name the option; both listener lists have always called themselves "listen".
    option->set(config, option->is_list() ? "listen" : option->name, value);
  }
  apply_environment(from_environment, config);

  if (config.upstream.host.empty()) throw ConfigError("--upstream is required (see --help)");
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    throw ConfigError("--tls-cert and --tls-key go together");
  }
  if (!config.listen_tls.empty() && config.tls_cert.empty()) {
    throw ConfigError("--listen-tls needs --tls-cert and --tls-key");
  }
  if (config.upstream.kind() == UpstreamScheme::Imaps && config.upstream.tls_none) {
    throw ConfigError("upstream: ?tls=none contradicts imaps://");
  }
  if (config.listen.empty() && config.listen_tls.empty())
    config.listen.push_back(io::HostPort{"127.0.0.1", 110});
  if (!routes.is_null()) config.routes = parse_routes(routes, config);
  check_auth_modes(config);
  check_state_store(config);
  return CommandLineOutcome::Run;
}

}  // namespace popgate
