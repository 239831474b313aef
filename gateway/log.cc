// Log line formatting (JSON or key=value text), the process-wide level and format.
#include "gateway/log.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace popgate::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<int> g_format{static_cast<int>(Format::Json)};
thread_local int t_worker = -1;  // -1: not a numbered worker loop

bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

// RFC 3339, UTC, milliseconds: 2024-05-01T12:00:00.123Z
void append_timestamp(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof buffer - n, ".%03dZ", static_cast<int>(millis));
  out += buffer;
}

// A JSON string literal. The text is sanitised ASCII or one of our own names, so the
// UTF-8 check in dump() cannot fail.
void append_json_string(std::string& out, std::string_view text) {
  out += nlohmann::json(std::string(text)).dump();
}

}  // namespace

void set_level(Level level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::optional<Level> parse_level(std::string_view name) {
  if (name == "debug") return Level::Debug;
  if (name == "info") return Level::Info;
  if (name == "warn" || name == "warning") return Level::Warn;
  if (name == "error") return Level::Error;
  return std::nullopt;
}

const char* to_string(Level level) {
  switch (level) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "info";
}

void set_format(Format format) {
  g_format.store(static_cast<int>(format), std::memory_order_relaxed);
}

void set_thread_worker(int index) {
  t_worker = index;
}

Format format() {
  return static_cast<Format>(g_format.load(std::memory_order_relaxed));
}

std::optional<Format> parse_format(std::string_view name) {
  if (name == "json") return Format::Json;
  if (name == "text") return Format::Text;
  return std::nullopt;
}

const char* to_string(Format format) {
  return format == Format::Text ? "text" : "json";
}

std::string sanitize(std::string_view text, size_t max_length) {
  std::string out;
  out.reserve(std::min(text.size(), max_length) + 3);
  for (unsigned char c : text) {
    if (out.size() >= max_length) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  return out;
}

Line::Line(Level level, std::string_view event) : enabled_(enabled(level)), json_(format() == Format::Json) {
  if (!enabled_) return;
  if (json_) {
    text_ += "{\"ts\":\"";
    append_timestamp(text_);
    text_ += "\",\"level\":\"";
    text_ += to_string(level);
    text_ += "\",\"event\":";
    append_json_string(text_, event);
  } else {
    append_timestamp(text_);
    text_ += ' ';
    text_ += to_string(level);
    text_ += ' ';
    text_ += event;
  }
}

Line::~Line() {
  if (!enabled_) return;
  // Last, so that "event key=..." reads the same whichever loop wrote it.
  if (t_worker >= 0) field("worker", static_cast<uint64_t>(t_worker));
  text_ += json_ ? "}\n" : "\n";
  // One fwrite per line: it holds stderr's lock for the whole line, and stderr is unbuffered, so
  // the line leaves in one write(2) and worker threads never interleave within a line.
  std::fwrite(text_.data(), 1, text_.size(), stderr);
}

Line& Line::field(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  std::string clean = sanitize(value, 300);
  if (json_) {
    text_ += ',';
    append_json_string(text_, key);
    text_ += ':';
    append_json_string(text_, clean);
    return *this;
  }
  text_ += ' ';
  text_ += key;
  text_ += '=';
  if (!needs_quotes(clean)) {
    text_ += clean;
    return *this;
  }
  text_ += '"';
  for (char c : clean) {
    if (c == '"' || c == '\\') text_ += '\\';
    text_ += c;
  }
  text_ += '"';
  return *this;
}

Line& Line::literal(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  if (json_) {
    text_ += ',';
    append_json_string(text_, key);
    text_ += ':';
  } else {
    text_ += ' ';
    text_ += key;
    text_ += '=';
  }
  text_ += value;
  return *this;
}

Line& Line::field(std::string_view key, uint64_t value) {
  return literal(key, std::to_string(value));
}
Line& Line::field(std::string_view key, int64_t value) {
  return literal(key, std::to_string(value));
}
Line& Line::field(std::string_view key, bool value) {
  return literal(key, value ? "true" : "false");
}
Line& Line::field(std::string_view key, double value) {
  if (!std::isfinite(value)) return json_ ? literal(key, "null") : field(key, std::string_view("nan"));
  char buffer[320];  // room for DBL_MAX in %f
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  return literal(key, buffer);
}

}  // namespace popgate::log
