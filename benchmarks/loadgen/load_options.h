// The load generator's command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace popgate::bench {

// Login: like Loop, but STAT then QUIT (the login latency row). Snapshot: like Loop, but after the
// login `rounds` times STAT, LIST, UIDL, then QUIT (commands answered from the session snapshot).
enum class Mode { Loop, Login, Snapshot, Idle, RetrOne, ImapFetchOne };

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
  // Client addresses 127.0.0.1 .. 127.0.0.N, round robin by session (many devices, not one: popgate
  // with upstream session reuse steers each client address to one event loop).
  uint32_t sources = 1;
  // loop: stop starting sessions after this many seconds, or after this many sessions (0: no limit).
  double duration_seconds = 5;
  uint64_t max_sessions = 0;
  // idle: sessions to log in, and how long to hold them (SIGTERM ends the hold early).
  uint32_t idle_sessions = 0;
  double hold_seconds = 0;
  // retr-one / imap-fetch-one: the message number (POP3) or sequence number (IMAP) to fetch.
  uint32_t message = 1;
  // snapshot: STAT/LIST/UIDL rounds per session, and the pause before each round (0: none, the
  // sessions then saturate the server and latency is mostly queueing: c / throughput). Paced or
  // pipelined, a session also QUITs at its next round (or batch) once the duration has passed.
  uint32_t rounds = 100;
  double think_ms = 0;
  // snapshot without a pause: rounds sent this many at a time (pipelining, RFC 2449).
  uint32_t pipeline = 1;
  // Give up after this many seconds whatever the mode.
  double timeout_seconds = 600;
};

// Parses argv; prints usage and exits 2 on an error.
LoadOptions parse_load_options(int argc, char** argv);

}  // namespace popgate::bench
