// Structured log lines on stderr: one event per line (a JSON object, or key=value text), peer
// text sanitised.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace popgate::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

// Json: {"ts":"2024-05-01T12:00:00.123Z","level":"info","event":"login","session":7,...}
// Text: 2024-05-01T12:00:00.123Z info login session=7 ...
enum class Format { Json = 0, Text = 1 };

void set_level(Level level);
bool enabled(Level level);
std::optional<Level> parse_level(std::string_view name);
const char* to_string(Level level);

void set_format(Format format);
Format format();
// With --workers above 1: every line this thread writes names its worker loop ("worker":1). Lines
// of a thread that never set it (a single loop, the threadpool) carry no such field.
void set_thread_worker(int index);
std::optional<Format> parse_format(std::string_view name);
const char* to_string(Format format);

// Printable ASCII only (other octets as \xNN), cut to `max_length` with "...": for any
// text that came from a peer before it reaches a log line.
std::string sanitize(std::string_view text, size_t max_length = 160);

// Builds one line and writes it when destroyed, fields in the order given:
//   log::Line(Level::Info, "session_open").field("session", 7).field("peer", "127.0.0.1:5000");
// Strings are sanitised and cut (they may hold peer text); in JSON, numbers stay numbers and
// booleans booleans.
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
  Line& field(std::string_view key, bool value);
  Line& field(std::string_view key, double value);

 private:
  // A number or a boolean, already in its final spelling (the same in both formats).
  Line& literal(std::string_view key, std::string_view value);

  bool enabled_;
  bool json_;
  std::string text_;
};

}  // namespace popgate::log
