// Starts a program with its output in files, waits for it, and stops it by PID (SIGTERM, then SIGKILL).
#include "tests/integration/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/integration/support/temp_dir.h"

extern char** environ;

namespace popgate::integration {
namespace {

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    vars[entry.substr(0, entry.find('='))] = entry;
  }
  for (const auto& entry : extra) vars[entry.substr(0, entry.find('='))] = entry;
  std::vector<std::string> out;
  for (auto& [name, entry] : vars) out.push_back(std::move(entry));
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Only async-signal-safe calls between fork and exec.
[[noreturn]] void exec_child(pid_t parent, const char* in, const char* out, const char* err, const char* cwd,
                             char* const* argv, char* const* envp) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(126);
  ::setpgid(0, 0);  // our own group, so a terminal ^C does not race the fixture's shutdown
  const char* paths[3] = {in, out, err};
  const int flags[3] = {O_RDONLY, O_WRONLY | O_CREAT | O_TRUNC, O_WRONLY | O_CREAT | O_TRUNC};
  for (int fd = 0; fd < 3; ++fd) {
    int opened = ::open(paths[fd], flags[fd], 0644);
    if (opened < 0) ::_exit(126);
    if (opened != fd) {
      if (::dup2(opened, fd) < 0) ::_exit(126);
      ::close(opened);
    }
  }
  if (cwd != nullptr && ::chdir(cwd) != 0) ::_exit(126);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(argv[0], argv, envp);
  ::_exit(127);
}

}  // namespace

ChildProcess::ChildProcess(const SpawnOptions& options) {
  if (options.argv.empty()) throw std::runtime_error("ChildProcess: empty argv");
  std::vector<std::string> argv_strings = options.argv;
  std::vector<std::string> env_strings = merged_environment(options.extra_env);
  std::vector<char*> argv = c_strings(argv_strings);
  std::vector<char*> envp = c_strings(env_strings);
  const std::string in = options.stdin_path.empty() ? "/dev/null" : options.stdin_path.string();
  const std::string out = options.stdout_path.empty() ? "/dev/null" : options.stdout_path.string();
  const std::string err = options.stderr_path.empty() ? "/dev/null" : options.stderr_path.string();
  const std::string cwd = options.working_directory.string();
  if (::access(argv[0], X_OK) != 0) {
    throw std::runtime_error("cannot execute " + argv_strings[0] + ": " + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    exec_child(parent, in.c_str(), out.c_str(), err.c_str(), cwd.empty() ? nullptr : cwd.c_str(), argv.data(),
               envp.data());
  }
}

ChildProcess::~ChildProcess() {
  stop();
}

bool ChildProcess::reap(int options) {
  if (status_) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, options);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = status;
    return true;
  }
  if (r < 0) {  // ECHILD: already reaped; never signal that PID again
    status_ = 0;
    return true;
  }
  return false;
}

bool ChildProcess::running() {
  return !reap(WNOHANG);
}

std::optional<int> ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(WNOHANG)) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return status_;
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return 0;
  if (!reap(WNOHANG)) {
    ::kill(pid_, SIGTERM);
    if (!wait_for_exit(grace)) {
      ::kill(pid_, SIGKILL);
      reap(0);
    }
  }
  return *status_;
}

void ChildProcess::send_signal(int signal) {
  if (pid_ > 0 && !reap(WNOHANG)) ::kill(pid_, signal);
}

std::vector<pid_t> child_pids(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> pids;
  pid_t child;
  while (in >> child) pids.push_back(child);
  return pids;
}

bool exited_or_zombie(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;
  const size_t paren = stat.rfind(')');  // the command name may contain spaces and parentheses
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z' ||
         stat[paren + 2] == 'X';
}

std::string process_name(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  for (const char* dir2 : {"/usr/sbin", "/sbin"}) {
    std::string candidate = std::string(dir2) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

RunResult run_program(SpawnOptions options, std::chrono::milliseconds timeout) {
  TempDir capture("run");
  options.stdout_path = capture / "stdout";
  options.stderr_path = capture / "stderr";
  RunResult result;
  {
    ChildProcess child(options);
    auto status = child.wait_for_exit(timeout);
    if (!status) {
      result.timed_out = true;
      status = child.stop(std::chrono::seconds(2));
    }
    if (WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  }
  result.out = read_file(options.stdout_path);
  result.err = read_file(options.stderr_path);
  return result;
}

std::optional<MemoryUsage> read_memory_usage(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return std::nullopt;
  MemoryUsage usage;
  std::string line;
  while (std::getline(in, line)) {
    auto value = [&](std::string_view key) -> long {
      return std::strtol(line.c_str() + key.size(), nullptr, 10);
    };
    if (line.rfind("VmHWM:", 0) == 0) usage.vm_hwm_kib = value("VmHWM:");
    if (line.rfind("VmRSS:", 0) == 0) usage.vm_rss_kib = value("VmRSS:");
  }
  if (usage.vm_hwm_kib < 0 || usage.vm_rss_kib < 0) return std::nullopt;
  return usage;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace popgate::integration
