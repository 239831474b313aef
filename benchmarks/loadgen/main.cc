// popgate_loadgen: drives a POP3 server (popgate, or Dovecot as gateway or native) and prints JSON.
#include <sys/resource.h>

#include <cstdio>
#include <exception>

#include "benchmarks/loadgen/blocking_fetch.h"
#include "benchmarks/loadgen/load_driver.h"
#include "benchmarks/loadgen/load_options.h"

namespace {

// Many concurrent sessions need many descriptors: raise the soft limit to the hard one.
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace popgate::bench;
  const LoadOptions options = parse_load_options(argc, argv);
  raise_descriptor_limit();
  try {
    nlohmann::json report;
    switch (options.mode) {
      case Mode::Loop:
      case Mode::Login:
      case Mode::Snapshot:
        report = run_loop_mode(options);
        break;
      case Mode::Idle:
        report = run_idle_mode(options);
        break;
      case Mode::RetrOne:
        report = run_retr_one(options);
        break;
      case Mode::ImapFetchOne:
        report = run_imap_fetch_one(options);
        break;
    }
    std::printf("%s\n", report.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "popgate_loadgen: %s\n", e.what());
    return 1;
  }
}
