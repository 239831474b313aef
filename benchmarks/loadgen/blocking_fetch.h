// Single-connection fetches of one (big) message with blocking sockets: POP3 RETR through a
// gateway, and the raw IMAP FETCH from the upstream that it is compared with.
#pragma once

#include <nlohmann/json.hpp>

#include "benchmarks/loadgen/load_options.h"

namespace popgate::bench {

// USER/PASS, RETR options.message (timed from the command to the final ".CRLF"), QUIT.
nlohmann::json run_retr_one(const LoadOptions& options);
// LOGIN, SELECT INBOX, FETCH options.message BODY.PEEK[] (timed from the command to its tagged OK).
nlohmann::json run_imap_fetch_one(const LoadOptions& options);

}  // namespace popgate::bench
