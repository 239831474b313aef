// PasswordVerifier: the hash runs on the threadpool (io::run_on_threadpool), the answer on the loop.
#include "gateway/identity/password_verifier.h"

#include "gateway/identity/password_hash.h"
#include "gateway/io/threadpool_work.h"

namespace popgate {
namespace {

// What the pool thread reads and writes, between the start of the work and its completion.
struct Verification {
  std::shared_ptr<const PasswordVerifier::Hasher> hasher;
  std::shared_ptr<std::atomic<uint64_t>> hashes_computed;
  SecretString password;
  std::string hash;
  bool refuse = false;
  bool matches = false;
};

void hash_on_pool(Verification& work) {
  std::optional<std::string> computed = (*work.hasher)(work.password, work.hash);
  work.hashes_computed->fetch_add(1);
  // Compared even when the answer is fixed, so both paths do the same work.
  const bool same = computed && same_hash(*computed, work.hash);
  work.matches = same && !work.refuse;
  work.password.wipe();
}

class VerificationHandle final : public PendingVerification {
 public:
  explicit VerificationHandle(io::ThreadpoolWorkPtr work) : work_(std::move(work)) {}

 private:
  io::ThreadpoolWorkPtr work_;  // destroying it cancels the answer
};

}  // namespace

PasswordVerifier::PasswordVerifier(io::Loop& loop)
    : PasswordVerifier(loop, [](const SecretString& password, const std::string& setting) {
        return crypt_hash(password, setting);
      }) {}

PasswordVerifier::PasswordVerifier(io::Loop& loop, Hasher hasher)
    : loop_(loop), hasher_(std::make_shared<const Hasher>(std::move(hasher))) {}

PendingVerificationPtr PasswordVerifier::verify(SecretString password, std::string hash, Done done) {
  return start(std::move(password), std::move(hash), /*refuse=*/false, std::move(done));
}

PendingVerificationPtr PasswordVerifier::verify_and_refuse(SecretString password, std::string hash,
                                                           Done done) {
  return start(std::move(password), std::move(hash), /*refuse=*/true, std::move(done));
}

PendingVerificationPtr PasswordVerifier::start(SecretString password, std::string hash, bool refuse,
                                               Done done) {
  auto work = std::make_shared<Verification>();
  work->hasher = hasher_;
  work->hashes_computed = hashes_computed_;
  work->password = std::move(password);
  work->hash = std::move(hash);
  work->refuse = refuse;
  return std::make_unique<VerificationHandle>(io::run_on_threadpool(
      loop_, [work] { hash_on_pool(*work); },
      [work, done = std::move(done)] {
        if (done) done(work->matches);
      }));
}

}  // namespace popgate
