// DeviceLogin: the device authorization grant (RFC 8628) on a loop: ask for a user code, tell the
// operator where to enter it, poll the token endpoint (honouring interval and slow_down) and store
// the refresh token. The engine of `popgate oauth login`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls_context.h"
#include "gateway/oauth2/oauth2_config.h"
#include "gateway/oauth2/shared_tokens.h"
#include "gateway/oauth2/token_endpoint.h"
#include "gateway/oauth2/token_store.h"

namespace popgate::oauth2 {

struct DeviceLoginOptions {
  // RFC 8628 §3.5: the interval unit and the slow_down increment. Tests shrink them; the command
  // uses these values.
  uint64_t second_ms = 1'000;
  uint64_t slow_down_increment_s = 5;
  uint64_t request_timeout_ms = 30'000;
};

class DeviceLogin {
 public:
  using Done = std::function<void(Status)>;

  // `out` receives what the operator must do, and the outcome.
  DeviceLogin(io::Loop& loop, const OAuth2ClientConfig& client, std::string token_dir,
              std::shared_ptr<io::TlsClientContext> tls, std::ostream& out, DeviceLoginOptions options = {});
  ~DeviceLogin();
  DeviceLogin(const DeviceLogin&) = delete;
  DeviceLogin& operator=(const DeviceLogin&) = delete;

  // Errors: Permanent (no device endpoint, refused, denied, expired, no refresh token issued),
  // Temporary (the endpoint unreachable, the token not stored).
  void start(Done done);
  // Store the refresh token in a shared state store instead of the token directory (it outlives
  // this object): a new grant replaces what every replica uses.
  void keep_in(SharedTokens* shared) { shared_ = shared; }

  // For tests: the polling interval now, in seconds (after slow_down).
  uint64_t interval_s() const { return interval_s_; }

 private:
  void poll();
  void schedule_poll();
  void finish(Status status);

  io::Loop& loop_;
  const OAuth2ClientConfig& client_;
  std::ostream& out_;
  DeviceLoginOptions options_;
  std::unique_ptr<TokenEndpoint> device_endpoint_;
  std::unique_ptr<TokenEndpoint> token_endpoint_;
  TokenStore store_;
  SharedTokens* shared_ = nullptr;
  io::Timer timer_;
  SecretString device_code_;
  uint64_t interval_s_ = 5;
  uint64_t deadline_ms_ = 0;
  Done done_;
  io::Liveness alive_;  // last: the deferred refusal in start() may outlive this object
};

}  // namespace popgate::oauth2
