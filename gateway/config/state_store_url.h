// StateStoreUrl: where the state replicas share lives (--state-store): this process alone, one
// Redis (plain or TLS), or the master a set of Redis Sentinels names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/io/socket_address.h"

namespace popgate {

enum class StateStoreKind {
  Local,     // "local": every replica keeps its own (the default; no Redis at all)
  Redis,     // redis://HOST[:PORT][/DB], rediss://... with TLS
  Sentinel,  // redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER-NAME[/DB]
};

// What popgate does while the store is unreachable (--state-store-failure).
enum class StateStoreFailure {
  Open,    // locks and counts fall back to the replica's own
  Closed,  // logins get -ERR [SYS/TEMP]
};

struct StateStoreUrl {
  StateStoreKind kind = StateStoreKind::Local;
  bool tls = false;                   // rediss://
  std::vector<io::HostPort> servers;  // Redis: one; Sentinel: the sentinels, in order
  std::string master_name;            // Sentinel
  unsigned database = 0;              // SELECT
  bool shared() const { return kind != StateStoreKind::Local; }
  // As written, for logs and /readyz (the URL never holds credentials: parsing refuses them).
  std::string to_string() const;
};

// Throws ConfigError, its message beginning with `name`.
StateStoreUrl parse_state_store_url(std::string_view name, std::string_view text);

}  // namespace popgate
