// Structured log lines on stderr: one event per line, key=value fields, peer text sanitised.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace popgate::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_level(Level level);
bool enabled(Level level);
std::optional<Level> parse_level(std::string_view name);

// Printable ASCII only (other octets as \xNN), cut to `max_length` with "...": for any
// text that came from a peer before it reaches a log line.
std::string sanitize(std::string_view text, size_t max_length = 160);

// Builds one line and writes it when destroyed:
//   log::Line(Level::Info, "session_open").field("session", 7).field("peer", "127.0.0.1:5000");
class Line {
 public:
  Line(Level level, std::string_view event);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  Line& field(std::string_view key, std::string_view value);
  Line& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  Line& field(std::string_view key, const std::string& value) { return field(key, std::string_view(value)); }
  Line& field(std::string_view key, uint64_t value);
  Line& field(std::string_view key, int64_t value);
  Line& field(std::string_view key, int value) { return field(key, static_cast<int64_t>(value)); }
  Line& field(std::string_view key, unsigned value) { return field(key, static_cast<uint64_t>(value)); }
  Line& field(std::string_view key, bool value) { return field(key, value ? "true" : "false"); }
  Line& field(std::string_view key, double value);

 private:
  bool enabled_;
  std::string text_;
};

}  // namespace popgate::log
