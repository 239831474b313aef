// Runs the popgate binary under test on a free loopback port in front of an IMAP upstream.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {

// Optional parts of popgate's command line that the fixture has to know about.
struct PopgateOptions {
  // The --upstream URL; empty means imap://127.0.0.1:<imap_port>.
  std::string upstream;
  // Also --listen-tls 127.0.0.1:<free port> (implicit TLS); `extra_args` must then carry
  // --tls-cert and --tls-key.
  bool listen_tls = false;
  // "NAME=value" environment variables for popgate (POPGATE_IDLE_TIMEOUT=1, ...).
  std::vector<std::string> environment;
  // Also --admin 127.0.0.1:<free port> (for metrics()); otherwise --no-admin unless `extra_args`
  // names the admin endpoint.
  bool admin = false;
};

class PopgateProcess {
 public:
  // Starts POPGATE_BINARY with --listen 127.0.0.1:<free port> --upstream imap://127.0.0.1:<imap_port>
  // --log-level debug --log-format text --drain-timeout 0 plus `extra_args`, and waits for the
  // port(s). Throws std::runtime_error with the log if it exits or never listens.
  explicit PopgateProcess(uint16_t imap_port, std::vector<std::string> extra_args = {},
                          const PopgateOptions& options = {});
  ~PopgateProcess();
  PopgateProcess(const PopgateProcess&) = delete;
  PopgateProcess& operator=(const PopgateProcess&) = delete;

  uint16_t port() const { return port_; }
  // The implicit-TLS port; 0 unless PopgateOptions::listen_tls.
  uint16_t tls_port() const { return tls_port_; }
  pid_t pid() const { return process_->pid(); }
  // Sends `signal` (e.g. SIGHUP) if popgate is still running.
  void send_signal(int signal) { process_->send_signal(signal); }
  bool running() { return process_ && process_->running(); }
  // Stops by PID (SIGTERM, SIGKILL after 5 s); returns the wait status.
  int stop();
  // Waits up to `timeout` for popgate to exit by itself; its wait status, or nullopt if it still runs.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout) {
    return process_->wait_for_exit(timeout);
  }
  // Everything popgate wrote to stderr so far.
  std::string log_text() const;

  // 0 unless PopgateOptions::admin.
  uint16_t admin_port() const { return admin_port_; }
  // The sum of every sample of the metric `name` (all label sets) in one GET /metrics, e.g.
  // "popgate_sessions_active"; nullopt if the endpoint did not answer or has no such series.
  std::optional<double> metric(std::string_view name) const;
  // How many descriptors popgate holds open (/proc/PID/fd); -1 if it is gone.
  int open_fds() const;

 private:
  TempDir dir_;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  uint16_t admin_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace popgate::integration
