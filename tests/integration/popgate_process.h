// Runs the popgate binary under test on a free loopback port in front of an IMAP upstream.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/child_process.h"
#include "tests/integration/temp_dir.h"

namespace popgate::integration {

class PopgateProcess {
 public:
  // Starts POPGATE_BINARY with --listen 127.0.0.1:<free port> --upstream imap://127.0.0.1:<imap_port>
  // --log-level debug plus `extra_args`, and waits for the port. Throws std::runtime_error with the
  // log if it exits or never listens.
  explicit PopgateProcess(uint16_t imap_port, std::vector<std::string> extra_args = {});
  ~PopgateProcess();
  PopgateProcess(const PopgateProcess&) = delete;
  PopgateProcess& operator=(const PopgateProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  bool running() { return process_ && process_->running(); }
  // Stops by PID (SIGTERM, SIGKILL after 5 s); returns the wait status.
  int stop();
  // Everything popgate wrote to stderr so far.
  std::string log_text() const;

 private:
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace popgate::integration
