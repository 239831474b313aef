// The epoll loop that runs many Pop3LoadSessions at once: loop mode (C sessions back to back) and
// idle mode (N logged-in sessions held open). Single-threaded, edge-triggered.
#pragma once

#include <nlohmann/json.hpp>

#include "benchmarks/loadgen/load_options.h"

namespace popgate::bench {

// Both return the JSON report; they print `all_logged_in N` (idle) on stdout as it happens.
nlohmann::json run_loop_mode(const LoadOptions& options);
nlohmann::json run_idle_mode(const LoadOptions& options);

}  // namespace popgate::bench
