// A private redis-sentinel on a loopback free port that watches one master, for failover tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {

struct RedisSentinelOptions {
  std::string master_name = "popgate";
  uint16_t master_port = 0;  // the master on 127.0.0.1; required
  std::string auth_pass;     // the password the master and its replicas require; empty: none
  // Short, so a test sees a failover in seconds rather than Redis's default of half a minute.
  std::chrono::milliseconds down_after = std::chrono::milliseconds(1000);
  std::chrono::milliseconds failover_timeout = std::chrono::milliseconds(10000);
};

class RedisSentinel {
 public:
  explicit RedisSentinel(RedisSentinelOptions options);
  ~RedisSentinel();
  RedisSentinel(const RedisSentinel&) = delete;
  RedisSentinel& operator=(const RedisSentinel&) = delete;

  // Writes sentinel.conf (quorum 1) and starts `redis-sentinel` on a free port; waits until it
  // answers PING; tries other ports if one was taken meanwhile. Throws std::runtime_error with the log.
  void start();
  // SIGTERM by PID, and waits for it. Safe to call twice.
  void stop();
  bool running();
  uint16_t port() const { return port_; }
  const RedisSentinelOptions& options() const { return options_; }

  // redis-cli against the sentinel (which has no password of its own); stdout trimmed.
  std::string cli(std::vector<std::string> args);
  // "host:port" as `SENTINEL get-master-addr-by-name` reports it ("127.0.0.1:6380"); "" if unknown.
  std::string master_address();
  // How many replicas of the master the sentinel has discovered. A failover needs at least one, and
  // the sentinel learns of them from the master's INFO, so wait for this before killing the master.
  int replica_count();
  // Polls until the sentinel reports 127.0.0.1:port as the master; false after `timeout`.
  bool wait_for_master(uint16_t port, std::chrono::milliseconds timeout);
  // Polls until replica_count() >= count; false after `timeout`.
  bool wait_for_replicas(int count, std::chrono::milliseconds timeout);

  std::string log_text() const;

 private:
  void write_config();

  RedisSentinelOptions options_;
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace popgate::integration
