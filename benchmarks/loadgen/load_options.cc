// Command-line parsing for popgate_loadgen: --name value pairs, numbers checked.
#include "benchmarks/loadgen/load_options.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace popgate::bench {
namespace {

constexpr const char* kUsage =
    "usage: popgate_loadgen --mode loop|login|snapshot|idle|retr-one|imap-fetch-one --port N [options]\n"
    "  --host ADDR            numeric IPv4 address (default 127.0.0.1)\n"
    "  --user-prefix P        user names are P0, P1, ... (default user)\n"
    "  --user-first N         first user index (default 0)\n"
    "  --users N              number of distinct users (default 1)\n"
    "  --password S           password of every user\n"
    "  --concurrency C        loop/login: concurrent sessions; idle: logins in flight (default 1)\n"
    "  --sources N            connect from 127.0.0.1 .. 127.0.0.N, round robin (default 1)\n"
    "  --duration S           loop: seconds to keep starting sessions (default 5)\n"
    "  --sessions N           loop: stop after N sessions; idle: sessions to hold\n"
    "  --hold S               idle: seconds to hold the sessions once all are logged in\n"
    "  --message N            retr-one/imap-fetch-one: message number (default 1)\n"
    "  --rounds N             snapshot: STAT, LIST, UIDL rounds per session (default 100)\n"
    "  --think-ms T           snapshot: pause before each round (default 0)\n"
    "  --pipeline N           snapshot, no pause: send N rounds at a time (default 1)\n"
    "  --timeout S            give up after S seconds (default 600)\n"
    "Prints one JSON object on stdout; idle mode prints the line `all_logged_in N` first.\n";

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr, "popgate_loadgen: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

uint64_t to_unsigned(std::string_view name, const std::string& value) {
  try {
    size_t used = 0;
    const unsigned long long n = std::stoull(value, &used);
    if (used != value.size()) throw std::invalid_argument(value);
    return n;
  } catch (const std::exception&) {
    usage_error(std::string(name) + " needs a number, got '" + value + "'");
  }
}

double to_seconds(std::string_view name, const std::string& value) {
  try {
    size_t used = 0;
    const double s = std::stod(value, &used);
    if (used != value.size() || s < 0) throw std::invalid_argument(value);
    return s;
  } catch (const std::exception&) {
    usage_error(std::string(name) + " needs a number of seconds, got '" + value + "'");
  }
}

Mode to_mode(const std::string& value) {
  if (value == "loop") return Mode::Loop;
  if (value == "login") return Mode::Login;
  if (value == "snapshot") return Mode::Snapshot;
  if (value == "idle") return Mode::Idle;
  if (value == "retr-one") return Mode::RetrOne;
  if (value == "imap-fetch-one") return Mode::ImapFetchOne;
  usage_error("unknown mode '" + value + "'");
}

}  // namespace

LoadOptions parse_load_options(int argc, char** argv) {
  LoadOptions o;
  bool have_port = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (name == "--help" || name == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
    const std::string value = argv[++i];
    if (name == "--mode") {
      o.mode = to_mode(value);
    } else if (name == "--host") {
      o.host = value;
    } else if (name == "--port") {
      const uint64_t port = to_unsigned(name, value);
      if (port == 0 || port > 65535) usage_error("--port out of range");
      o.port = static_cast<uint16_t>(port);
      have_port = true;
    } else if (name == "--user-prefix") {
      o.user_prefix = value;
    } else if (name == "--user-first") {
      o.user_first = static_cast<uint32_t>(to_unsigned(name, value));
    } else if (name == "--users") {
      o.users = static_cast<uint32_t>(to_unsigned(name, value));
    } else if (name == "--password") {
      o.password = value;
    } else if (name == "--concurrency") {
      o.concurrency = static_cast<uint32_t>(to_unsigned(name, value));
    } else if (name == "--sources") {
      o.sources = static_cast<uint32_t>(to_unsigned(name, value));
      if (o.sources == 0 || o.sources > 254) usage_error("--sources must be 1 to 254");
    } else if (name == "--duration") {
      o.duration_seconds = to_seconds(name, value);
    } else if (name == "--sessions") {
      o.max_sessions = to_unsigned(name, value);
      o.idle_sessions = static_cast<uint32_t>(o.max_sessions);
    } else if (name == "--hold") {
      o.hold_seconds = to_seconds(name, value);
    } else if (name == "--message") {
      o.message = static_cast<uint32_t>(to_unsigned(name, value));
    } else if (name == "--rounds") {
      o.rounds = static_cast<uint32_t>(to_unsigned(name, value));
    } else if (name == "--pipeline") {
      o.pipeline = static_cast<uint32_t>(to_unsigned(name, value));
    } else if (name == "--think-ms") {
      o.think_ms = to_seconds(name, value);
    } else if (name == "--timeout") {
      o.timeout_seconds = to_seconds(name, value);
    } else {
      usage_error("unknown option " + std::string(name));
    }
  }
  if (!have_port) usage_error("--port is required");
  if (o.users == 0 || o.concurrency == 0) usage_error("--users and --concurrency must be at least 1");
  if ((o.mode == Mode::Loop || o.mode == Mode::Login || o.mode == Mode::Snapshot) &&
      o.users < o.concurrency) {
    usage_error("--users must be at least --concurrency: a maildrop is locked by one session at a time");
  }
  if (o.mode == Mode::Idle && o.users < o.idle_sessions) usage_error("idle mode needs --users >= --sessions");
  return o;
}

}  // namespace popgate::bench
