// Starts a program with its output in files, waits for it, and stops it by PID (SIGTERM, then SIGKILL).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace popgate::integration {

struct SpawnOptions {
  std::vector<std::string> argv;            // argv[0] is the program path (no PATH search)
  std::filesystem::path stdin_path;         // empty: /dev/null
  std::filesystem::path stdout_path;        // empty: /dev/null
  std::filesystem::path stderr_path;        // empty: /dev/null
  std::vector<std::string> extra_env;       // "NAME=value", added to (and overriding) ours
  std::filesystem::path working_directory;  // empty: ours
};

// One child process. The child is sent SIGTERM if this test process dies first (PR_SET_PDEATHSIG),
// and the destructor stops it, so no test leaves servers behind.
class ChildProcess {
 public:
  // Throws std::runtime_error if the program cannot be started.
  explicit ChildProcess(const SpawnOptions& options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();

  // Waits up to `timeout` for the child to exit; returns its wait status, or nullopt if it is still running.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

  // SIGTERM, then SIGKILL after `grace`; returns the wait status. Safe to call more than once.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Sends `signal` if the child is still running.
  void send_signal(int signal);

 private:
  bool reap(int options);

  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Resolves a program name through $PATH, like a shell; returns the name unchanged if not found.
std::string find_program(const std::string& name);

// Runs a program to completion; stdout and stderr are captured in memory.
struct RunResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};
RunResult run_program(SpawnOptions options, std::chrono::milliseconds timeout);

// Memory figures from /proc/PID/status, in KiB.
struct MemoryUsage {
  long vm_hwm_kib = -1;  // peak resident set size
  long vm_rss_kib = -1;  // current resident set size
};
std::optional<MemoryUsage> read_memory_usage(pid_t pid);

// The PIDs of a process's children (from /proc/PID/task/PID/children); empty if it is gone.
std::vector<pid_t> child_pids(pid_t pid);
// True if `pid` no longer exists or is a zombie (exited, not yet reaped).
bool exited_or_zombie(pid_t pid);

// The command name of a process (/proc/PID/comm), or "" if it is gone.
std::string process_name(pid_t pid);

// Human-readable description of a wait status ("exit 2", "signal 9").
std::string describe_wait_status(int status);

}  // namespace popgate::integration
