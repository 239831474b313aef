// The state OAuth2TokenManager keeps per client, shared by its two source files
// (token_manager.cc, token_manager_shared.cc). Internal: nothing else includes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gateway/io/timer.h"
#include "gateway/oauth2/token_manager.h"

namespace popgate::oauth2 {

struct OAuth2TokenManager::ClientState {
  OAuth2ClientConfig config;
  std::unique_ptr<TokenEndpoint> endpoint;
  SecretString refresh_token;
  bool reload_refresh_token = false;  // re-read the file first: `popgate oauth login` may have run
  SecretString access_token;
  uint64_t fresh_until_ms = 0;  // use access_token until then (its expiry minus the margin)
  uint64_t expires_ms = 0;      // and not at all after this
  bool refreshing = false;
  // Shared tokens (token_manager_shared.cc): rotated tokens the store has not taken yet, and the
  // stored value they replace; how long to wait for another replica's refresh, and the timer.
  std::optional<std::string> unsaved_version;
  uint64_t wait_until_ms = 0;
  std::unique_ptr<io::Timer> poll_timer;
  uint64_t backoff_ms = 0;
  uint64_t backoff_until_ms = 0;
  std::string last_failure;
  uint64_t next_id = 1;
  std::map<uint64_t, Done> waiters;
};

inline std::string login_hint(const std::string& client) {
  return "run `popgate oauth login " + client + "`";
}

}  // namespace popgate::oauth2
