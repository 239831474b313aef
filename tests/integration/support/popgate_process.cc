// Runs the popgate binary under test on a free loopback port in front of an IMAP upstream.
#include "tests/integration/support/popgate_process.h"

#include <filesystem>
#include <stdexcept>

#include "tests/integration/support/buffered_socket.h"
#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

// Whether this popgate has an admin endpoint that --no-admin turns off. It listens on a fixed
// port by default, which tests running in parallel would fight over.
bool has_admin_endpoint() {
  static const bool has = [] {
    SpawnOptions options;
    options.argv = {POPGATE_BINARY, "--help"};
    return run_program(options, std::chrono::seconds(10)).out.find("--no-admin") != std::string::npos;
  }();
  return has;
}

bool mentions_admin(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a.starts_with("--admin") || a == "--no-admin") return true;
  }
  return false;
}

}  // namespace

PopgateProcess::PopgateProcess(uint16_t imap_port, std::vector<std::string> extra_args,
                               const PopgateOptions& popgate_options)
    : dir_("popgate") {
  std::string failure;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    SpawnOptions options;
    options.argv = {POPGATE_BINARY,
                    "--listen",
                    "127.0.0.1:" + std::to_string(port_),
                    "--upstream",
                    popgate_options.upstream.empty() ? "imap://127.0.0.1:" + std::to_string(imap_port)
                                                     : popgate_options.upstream,
                    "--log-level",
                    "debug",
                    "--log-format",
                    "text",  // the tests match key=value lines
                    "--drain-timeout",
                    "0"};  // SIGTERM closes sessions at once unless `extra_args` says otherwise
    if (popgate_options.listen_tls) {
      do {
        tls_port_ = free_port();
      } while (tls_port_ == port_);
      options.argv.insert(options.argv.end(), {"--listen-tls", "127.0.0.1:" + std::to_string(tls_port_)});
    }
    if (popgate_options.admin) {
      do {
        admin_port_ = free_port();
      } while (admin_port_ == port_ || admin_port_ == tls_port_);
      options.argv.insert(options.argv.end(), {"--admin", "127.0.0.1:" + std::to_string(admin_port_)});
    } else if (has_admin_endpoint() && !mentions_admin(extra_args)) {
      options.argv.push_back("--no-admin");
    }
    options.argv.insert(options.argv.end(), extra_args.begin(), extra_args.end());
    options.stderr_path = dir_ / "popgate.stderr";
    options.stdout_path = dir_ / "popgate.stdout";
    options.extra_env = popgate_options.environment;
    process_ = std::make_unique<ChildProcess>(options);
    auto alive = [this] { return process_->running(); };
    if (wait_for_port(port_, std::chrono::seconds(10), alive) &&
        (tls_port_ == 0 || wait_for_port(tls_port_, std::chrono::seconds(10), alive)) &&
        (admin_port_ == 0 || wait_for_port(admin_port_, std::chrono::seconds(10), alive)) && alive()) {
      return;
    }
    failure = process_->running() ? "did not listen within 10 s"
                                  : "exited with " + describe_wait_status(process_->stop());
    failure += "; stderr:\n" + log_text();
    process_->stop();
  }
  throw std::runtime_error("popgate failed to start: " + failure);
}

PopgateProcess::~PopgateProcess() {
  stop();
}

int PopgateProcess::stop() {
  return process_ ? process_->stop() : 0;
}

std::string PopgateProcess::log_text() const {
  std::string text = read_file(dir_ / "popgate.stderr");
  return text;
}

std::optional<double> PopgateProcess::metric(std::string_view name) const {
  if (admin_port_ == 0) return std::nullopt;
  std::string answer;
  try {
    BufferedSocket socket(admin_port_, std::chrono::seconds(10));
    socket.write_all("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    char buffer[16384];
    for (size_t n; (n = socket.read_some(buffer, sizeof buffer)) > 0;) answer.append(buffer, n);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!answer.starts_with("HTTP/1.1 200")) return std::nullopt;
  std::optional<double> sum;
  size_t line_start = answer.find("\r\n\r\n");
  while (line_start != std::string::npos && line_start < answer.size()) {
    size_t line_end = answer.find('\n', line_start);
    if (line_end == std::string::npos) line_end = answer.size();
    const std::string_view line(answer.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    const char after = line[name.size()];
    if (after != '{' && after != ' ') continue;
    const size_t space = line.rfind(' ');
    try {
      sum = sum.value_or(0) + std::stod(std::string(line.substr(space + 1)));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return sum;
}

int PopgateProcess::open_fds() const {
  std::error_code error;
  int count = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(process_->pid()) + "/fd", error), end;
       !error && it != end; it.increment(error)) {
    ++count;
  }
  return error ? -1 : count;
}

}  // namespace popgate::integration
