// The load generator's command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace popgate::bench {

enum class Mode { Loop, Idle, RetrOne, ImapFetchOne };

struct LoadOptions {
  Mode mode = Mode::Loop;
  std::string host = "127.0.0.1";
  uint16_t port = 110;
  // Users are USER_PREFIX + index for index in [user_first, user_first + users).
  std::string user_prefix = "user";
  uint32_t user_first = 0;
  uint32_t users = 1;
  std::string password;
  // loop: concurrent sessions; idle: logins in flight at once.
  uint32_t concurrency = 1;
  // loop: stop starting sessions after this many seconds, or after this many sessions (0: no limit).
  double duration_seconds = 5;
  uint64_t max_sessions = 0;
  // idle: sessions to log in, and how long to hold them (SIGTERM ends the hold early).
  uint32_t idle_sessions = 0;
  double hold_seconds = 0;
  // retr-one / imap-fetch-one: the message number (POP3) or sequence number (IMAP) to fetch.
  uint32_t message = 1;
  // Give up after this many seconds whatever the mode.
  double timeout_seconds = 600;
};

// Parses argv; prints usage and exits 2 on an error.
LoadOptions parse_load_options(int argc, char** argv);

}  // namespace popgate::bench
