// fuzz_config: parse_command_line on a random config file, command line and environment. It must
// either give a usable configuration, answer --help/--version, or throw ConfigError (main prints
// it and exits 2; a SIGHUP reload logs it and keeps the old configuration): nothing else may
// escape, or popgate would die on a typo.
//
// Input layout: NUL-separated pieces. The first is the config file's content (given with
// --config when not empty); each further piece is an argument, or an environment entry when it
// starts with "POPGATE_". The file lives in a memfd, so the fuzzer writes nothing to disk.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

constexpr std::string_view kEnvironmentPrefix = "POPGATE_";

// One in-memory file for every run, rewritten each time; its /proc path opens it from the start.
class ConfigFile {
 public:
  ConfigFile() : fd_(memfd_create("popgate-fuzz-config", 0)) { FUZZ_CHECK(fd_ >= 0); }
  ~ConfigFile() { close(fd_); }

  std::string write(std::string_view content) {
    FUZZ_CHECK(ftruncate(fd_, 0) == 0);
    FUZZ_CHECK(pwrite(fd_, content.data(), content.size(), 0) == static_cast<ssize_t>(content.size()));
    return "/proc/self/fd/" + std::to_string(fd_);
  }

 private:
  int fd_;
};

// A parsed configuration is one popgate can start with.
void check_config(const Config& config) {
  FUZZ_CHECK(!config.upstream.host.empty() && config.upstream.port != 0);
  FUZZ_CHECK(!config.listen.empty() || !config.listen_tls.empty());
  FUZZ_CHECK(config.tls_cert.empty() == config.tls_key.empty());
  FUZZ_CHECK(config.listen_tls.empty() || !config.tls_cert.empty());
  FUZZ_CHECK(!config.mailbox.empty());
  FUZZ_CHECK(config.upstream_timeout_ms > 0 && config.tls_handshake_timeout_ms > 0);
  FUZZ_CHECK(config.limits.max_command_line >= 16 && config.limits.max_bad_commands_after_login >= 1 &&
             config.limits.max_bad_commands_before_login >= 1);
  FUZZ_CHECK(config.delete_mode != DeleteMode::Move || !config.move_target.empty());
}

void check_input(std::string_view input) {
  static ConfigFile file;
  std::vector<std::string> pieces;
  for (size_t start = 0;;) {
    const size_t nul = input.find('\0', start);
    pieces.emplace_back(input.substr(start, nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  std::vector<std::string> args = {"popgate"};
  std::vector<std::string> environment;
  if (!pieces.front().empty()) {
    args.push_back("--config");
    args.push_back(file.write(pieces.front()));
  }
  for (size_t i = 1; i < pieces.size(); ++i) {
    const std::string& piece = pieces[i];
    // Other config files (such as /dev/stdin) are not this target's business: they could block.
    if (piece == "--config" || piece.starts_with("POPGATE_CONFIG=")) continue;
    (piece.starts_with(kEnvironmentPrefix) ? environment : args).push_back(piece);
  }
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);

  Config config;
  std::string out;
  try {
    const CommandLineOutcome outcome =
        parse_command_line(static_cast<int>(args.size()), argv.data(), environment, config, out);
    if (outcome == CommandLineOutcome::Run) {
      check_config(config);
    } else {
      FUZZ_CHECK(!out.empty());  // --help or --version printed something
    }
  } catch (const ConfigError& error) {
    FUZZ_CHECK(error.what()[0] != '\0');
  }
}

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return popgate::fuzz::check_input_without_exceptions(data, size, popgate::fuzz::check_input,
                                                       "not a ConfigError");
}
