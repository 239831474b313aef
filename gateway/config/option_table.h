// The option table's rows: the Config field an option sets and the shared setter that parses and
// checks its text (nginx's ngx_conf_set_*_slot with offsetof, as C++ member pointers).
#pragma once

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/config/config.h"

namespace popgate::options {

// Every setter's error begins with `name`, the text's origin: the option's name on the command
// line, "config: field 'idle_timeout'" in the file, "environment variable POPGATE_IDLE_TIMEOUT".

// SECONDS, possibly fractional, up to a year; in milliseconds.
inline uint64_t parse_seconds(std::string_view name, std::string_view text) {
  std::string copy(text);
  char* end = nullptr;
  double seconds = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(seconds) || seconds < 0 ||
      seconds > 365.0 * 24 * 3600) {
    throw ConfigError(std::string(name) + ": expected a number of seconds, got '" + copy + "'");
  }
  return static_cast<uint64_t>(std::llround(seconds * 1000));
}

inline uint64_t parse_count(std::string_view name, std::string_view text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max) {
    throw ConfigError(std::string(name) + ": expected a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", got '" + std::string(text) + "'");
  }
  return value;
}

// A numeric ADDRESS:PORT: listeners and the admin endpoint bind, they do not resolve names.
inline io::HostPort parse_address(std::string_view name, std::string_view text, std::string_view example) {
  auto host_port = io::parse_host_port(text);
  if (!host_port || !io::SocketAddress::from_numeric(*host_port)) {
    throw ConfigError(std::string(name) + ": expected a numeric ADDRESS:PORT such as " +
                      std::string(example) + ", got '" + std::string(text) + "'");
  }
  return *host_port;
}

enum class Empty { Allowed, Refused };  // may a Text be ""?
enum class Zero { Allowed, Refused };   // may Seconds be 0 (which turns some settings off)?

struct Text {
  std::string Config::*field;
  Empty empty = Empty::Allowed;
  void set(Config& config, std::string_view name, std::string_view text) const {
    if (empty == Empty::Refused && text.empty()) throw ConfigError(std::string(name) + ": must not be empty");
    config.*field = std::string(text);
  }
};

// Given in seconds, kept in milliseconds.
struct Seconds {
  uint64_t Config::*field;
  Zero zero = Zero::Allowed;
  void set(Config& config, std::string_view name, std::string_view text) const {
    config.*field = parse_seconds(name, text);
    if (zero == Zero::Refused && config.*field == 0) {
      throw ConfigError(std::string(name) + ": must be greater than 0");
    }
  }
};

struct Count {
  uint64_t Config::*field;
  uint64_t min;
  uint64_t max;
  void set(Config& config, std::string_view name, std::string_view text) const {
    config.*field = parse_count(name, text, min, max);
  }
};

// A setting of config.limits, which a member pointer into Config cannot reach: for Custom.
template <auto Field, uint64_t Min, uint64_t Max>
void set_limit(Config& config, std::string_view name, std::string_view text) {
  config.limits.*Field = parse_count(name, text, Min, Max);
}

// Takes no value on the command line; true or false in the file and the environment.
struct Flag {
  bool Config::*field;
};

struct Address {
  io::HostPort Config::*field;
  const char* example;  // for the error
  void set(Config& config, std::string_view name, std::string_view text) const {
    config.*field = parse_address(name, text, example);
  }
};

// Repeatable: each value adds one; a source that gives the list replaces the one below it.
struct Addresses {
  std::vector<io::HostPort> Config::*field;
  const char* example;  // for the error
  void set(Config& config, std::string_view name, std::string_view text) const {
    (config.*field).push_back(parse_address(name, text, example));
  }
};

// A setting with a parser of its own.
struct Custom {
  void (*set)(Config& config, std::string_view name, std::string_view text);
};

using Slot = std::variant<Text, Seconds, Count, Flag, Address, Addresses, Custom>;

struct Option {
  const char* name;  // --name, and POPGATE_NAME in the environment
  const char* key;   // the config file's field
  Slot slot;
  const char* help;

  // How a source gives the setting: a flag takes no value on the command line; a list is repeated
  // there and comma-separated in the environment; everything else is one value.
  bool is_flag() const { return std::holds_alternative<Flag>(slot); }
  bool is_list() const { return std::holds_alternative<Addresses>(slot); }
  // --no-maildrop-lock, POPGATE_NO_MAILDROP_LOCK=true: the flag turns its setting off.
  bool turns_off() const { return std::string_view(name).starts_with("no-"); }

  // A value, or one item of a list, from the source `where` (errors begin with it); a flag takes
  // a bool (below).
  void set(Config& config, std::string_view where, std::string_view text) const {
    assert(!is_flag());
    std::visit(
        [&](const auto& setter) {
          if constexpr (requires { setter.set(config, where, text); }) setter.set(config, where, text);
        },
        slot);
  }
  void set(Config& config, bool on) const { config.*std::get<Flag>(slot).field = on; }
  void clear(Config& config) const { (config.*std::get<Addresses>(slot).field).clear(); }
};

}  // namespace popgate::options
