// Runs redis-cli against a Redis server or Sentinel on 127.0.0.1, and waits for one to answer PING.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace popgate::integration {

// Who redis-cli authenticates as: nobody (both empty), the default user (a password only, like
// requirepass), or an ACL user.
struct RedisCredentials {
  std::string user;
  std::string password;
};

// Where redis-cli connects, and how.
struct RedisEndpoint {
  uint16_t port = 0;
  std::filesystem::path ca_file;  // non-empty: TLS, trusting only this CA
  RedisCredentials credentials;
};

// Runs `redis-cli -h 127.0.0.1 -p PORT [auth] [tls] args...` and returns its stdout, trimmed.
// redis-cli exits 0 on an error reply, so "NOAUTH ..." or "NOPERM ..." comes back as the output.
// Throws std::runtime_error, with its stderr, if redis-cli fails or runs longer than `timeout`
// (a paused server never answers).
std::string run_redis_cli(const RedisEndpoint& endpoint, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Polls until the endpoint answers PING with PONG; gives up when `still_alive` says the process died
// or `timeout` passes. A server still loading answers LOADING and is polled again; any other answer
// (NOAUTH: wrong credentials) returns false at once.
bool wait_for_pong(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout,
                   const std::function<bool()>& still_alive);

}  // namespace popgate::integration
