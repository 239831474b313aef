// A private redis-sentinel on a loopback free port that watches one master, for failover tests.
#include "tests/integration/support/redis_sentinel.h"

#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/redis_cli.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kPollInterval = std::chrono::milliseconds(50);

// Polls `done` until it is true or the timeout passes.
template <typename Done>
bool poll_until(std::chrono::milliseconds timeout, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

RedisSentinel::RedisSentinel(RedisSentinelOptions options) : options_(std::move(options)), dir_("sentinel") {
  if (options_.master_port == 0) throw std::logic_error("RedisSentinel: no master_port");
}

RedisSentinel::~RedisSentinel() {
  stop();
}

void RedisSentinel::write_config() {
  // The sentinel rewrites this file as it learns replicas and epochs, so it is written afresh for
  // every start, in our own directory.
  const std::string& name = options_.master_name;
  std::ostringstream conf;
  conf << "port " << port_ << "\n"
       << "bind 127.0.0.1\n"
       << "dir " << dir_.path().string() << "\n"
       << "logfile " << (dir_ / "sentinel.log").string() << "\n"
       << "sentinel monitor " << name << " 127.0.0.1 " << options_.master_port << " 1\n"
       << "sentinel down-after-milliseconds " << name << " " << options_.down_after.count() << "\n"
       << "sentinel failover-timeout " << name << " " << options_.failover_timeout.count() << "\n";
  if (!options_.auth_pass.empty()) conf << "sentinel auth-pass " << name << " " << options_.auth_pass << "\n";
  write_file(dir_ / "sentinel.conf", conf.str());
}

void RedisSentinel::start() {
  if (running()) throw std::logic_error("RedisSentinel::start: already running");
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    write_config();
    SpawnOptions spawn;
    spawn.argv = {find_program("redis-sentinel"), (dir_ / "sentinel.conf").string()};
    spawn.stdout_path = dir_ / "sentinel.stdout";
    spawn.stderr_path = dir_ / "sentinel.stderr";
    process_ = std::make_unique<ChildProcess>(spawn);
    if (wait_for_pong({port_, {}, {}}, kStartTimeout, [this] { return process_->running(); })) return;
    // Only an exit (the port was taken meanwhile) is worth another port.
    const bool exited = !process_->running();
    process_->stop();
    process_.reset();
    if (!exited) throw std::runtime_error("redis-sentinel does not answer PING:\n" + log_text());
  }
  throw std::runtime_error("redis-sentinel did not start:\n" + log_text());
}

void RedisSentinel::stop() {
  if (!process_) return;
  process_->stop();
  process_.reset();
}

bool RedisSentinel::running() {
  return process_ && process_->running();
}

std::string RedisSentinel::cli(std::vector<std::string> args) {
  return run_redis_cli({port_, {}, {}}, args);
}

std::string RedisSentinel::master_address() {
  // Two lines, host then port; empty (nil) while the sentinel does not know the name.
  std::istringstream lines(cli({"SENTINEL", "get-master-addr-by-name", options_.master_name}));
  std::string host;
  std::string port;
  if (!std::getline(lines, host) || !std::getline(lines, port)) return "";
  return host + ":" + port;
}

int RedisSentinel::replica_count() {
  // Flat key/value lines; "num-slaves" is the count of replicas it knows.
  std::istringstream lines(cli({"SENTINEL", "master", options_.master_name}));
  for (std::string line; std::getline(lines, line);) {
    std::string value;
    if (line == "num-slaves" && std::getline(lines, value)) return std::stoi(value);
  }
  return 0;
}

bool RedisSentinel::wait_for_master(uint16_t port, std::chrono::milliseconds timeout) {
  const std::string wanted = "127.0.0.1:" + std::to_string(port);
  return poll_until(timeout, [&] { return running() && master_address() == wanted; });
}

bool RedisSentinel::wait_for_replicas(int count, std::chrono::milliseconds timeout) {
  return poll_until(timeout, [&] { return running() && replica_count() >= count; });
}

std::string RedisSentinel::log_text() const {
  std::string text;
  for (const char* name : {"sentinel.stderr", "sentinel.stdout", "sentinel.log"}) {
    if (fs::exists(dir_ / name)) text += read_file(dir_ / name);
  }
  return text;
}

}  // namespace popgate::integration
