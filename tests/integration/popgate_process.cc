// Runs the popgate binary under test on a free loopback port in front of an IMAP upstream.
#include "tests/integration/popgate_process.h"

#include <stdexcept>

#include "tests/integration/loopback.h"

namespace popgate::integration {

PopgateProcess::PopgateProcess(uint16_t imap_port, std::vector<std::string> extra_args) : dir_("popgate") {
  std::string failure;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    SpawnOptions options;
    options.argv = {POPGATE_BINARY,
                    "--listen",
                    "127.0.0.1:" + std::to_string(port_),
                    "--upstream",
                    "imap://127.0.0.1:" + std::to_string(imap_port),
                    "--log-level",
                    "debug"};
    options.argv.insert(options.argv.end(), extra_args.begin(), extra_args.end());
    options.stderr_path = dir_ / "popgate.stderr";
    options.stdout_path = dir_ / "popgate.stdout";
    process_ = std::make_unique<ChildProcess>(options);
    auto alive = [this] { return process_->running(); };
    if (wait_for_port(port_, std::chrono::seconds(10), alive) && alive()) return;
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

}  // namespace popgate::integration
