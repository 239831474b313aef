// PasswordVerifier: checks a password against a crypt(3) hash on libuv's threadpool, never on
// the loop (a yescrypt hash costs milliseconds).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/io/loop.h"
#include "protocol/common/secret.h"

namespace popgate {

// Destroying it cancels the verification: its callback never runs afterwards (the hash being
// computed on the threadpool finishes and is thrown away).
class PendingVerification {
 public:
  virtual ~PendingVerification() = default;
};
using PendingVerificationPtr = std::unique_ptr<PendingVerification>;

class PasswordVerifier {
 public:
  // Runs on a threadpool thread: the crypt(3) hash of the password under a hash's setting, or
  // nothing when the setting is refused. Tests inject one that counts or records its calls.
  using Hasher =
      std::function<std::optional<std::string>(const SecretString& password, const std::string& setting)>;
  using Done = std::function<void(bool matches)>;

  // Uses libxcrypt's crypt_rn.
  explicit PasswordVerifier(io::Loop& loop);
  PasswordVerifier(io::Loop& loop, Hasher hasher);

  // One hash of `password` under `hash`, compared in constant time. `done` runs once, later, on
  // the loop thread, unless the handle is destroyed first.
  PendingVerificationPtr verify(SecretString password, std::string hash, Done done);

  // For a login that must fail whatever its password (an unknown or a revoked user): the same
  // work as verify() against `hash` (a dummy of the usual method and cost), and then `false`,
  // so neither the answer nor its timing tells such a user from a wrong password.
  PendingVerificationPtr verify_and_refuse(SecretString password, std::string hash, Done done);

  // Hashes computed so far (for tests: one per verification, whichever path it took).
  uint64_t hashes_computed() const { return hashes_computed_->load(); }

 private:
  PendingVerificationPtr start(SecretString password, std::string hash, bool refuse, Done done);

  io::Loop& loop_;
  std::shared_ptr<const Hasher> hasher_;
  std::shared_ptr<std::atomic<uint64_t>> hashes_computed_ = std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace popgate
