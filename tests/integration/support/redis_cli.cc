// Runs redis-cli against a Redis server or Sentinel on 127.0.0.1, and waits for one to answer PING.
#include "tests/integration/support/redis_cli.h"

#include <stdexcept>
#include <thread>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

std::string trimmed(const std::string& text) {
  const char* space = " \t\r\n";
  const size_t first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

}  // namespace

std::string run_redis_cli(const RedisEndpoint& endpoint, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout) {
  SpawnOptions options;
  options.argv = {find_program("redis-cli"), "-h", "127.0.0.1", "-p", std::to_string(endpoint.port)};
  if (!endpoint.ca_file.empty()) {
    options.argv.insert(options.argv.end(), {"--tls", "--cacert", endpoint.ca_file.string()});
  }
  const RedisCredentials& who = endpoint.credentials;
  if (!who.user.empty()) options.argv.insert(options.argv.end(), {"--user", who.user});
  if (!who.password.empty()) {
    // --no-auth-warning: the password on the command line is fine for a test, and the warning
    // would otherwise land in the output the tests compare.
    options.argv.insert(options.argv.end(), {"--pass", who.password, "--no-auth-warning"});
  }
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  RunResult r = run_program(options, timeout);
  if (r.timed_out) {
    throw std::runtime_error("redis-cli on port " + std::to_string(endpoint.port) + " timed out");
  }
  if (r.exit_code != 0) {
    throw std::runtime_error("redis-cli on port " + std::to_string(endpoint.port) + " failed (exit " +
                             std::to_string(r.exit_code) + "): " + r.err + r.out);
  }
  return trimmed(r.out);
}

bool wait_for_pong(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout,
                   const std::function<bool()>& still_alive) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!wait_for_port(endpoint.port, timeout, still_alive)) return false;
  while (!still_alive || still_alive()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) return false;
    try {
      const std::string answer = run_redis_cli(endpoint, {"PING"}, left);
      if (answer == "PONG") return true;
      // Anything but LOADING (NOAUTH, WRONGPASS) will not change by waiting.
      if (answer.rfind("LOADING", 0) != 0) return false;
    } catch (const std::runtime_error&) {
      // Not accepting the connection or the handshake yet: poll again until the deadline.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace popgate::integration
