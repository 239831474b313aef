// PasswordVerifier: uv_queue_work runs the hash, the after-work callback compares and answers.
#include "gateway/identity/password_verifier.h"

#include <uv.h>

#include "gateway/identity/password_hash.h"

namespace popgate {
namespace {

// Shared by the handle and the work request; the handle only ever clears `done`.
struct VerificationState {
  PasswordVerifier::Done done;
};

// Owned by libuv from uv_queue_work until its after-work callback, which deletes it. Each field
// is touched by one thread at a time: the pool thread between the two callbacks, else the loop.
struct VerificationWork {
  uv_work_t request{};
  std::shared_ptr<const PasswordVerifier::Hasher> hasher;
  std::shared_ptr<std::atomic<uint64_t>> hashes_computed;
  SecretString password;
  std::string hash;
  bool refuse = false;
  bool matches = false;
  std::shared_ptr<VerificationState> state;
};

class VerificationHandle final : public PendingVerification {
 public:
  explicit VerificationHandle(std::shared_ptr<VerificationState> state) : state_(std::move(state)) {}
  ~VerificationHandle() override { state_->done = nullptr; }

 private:
  std::shared_ptr<VerificationState> state_;
};

void hash_on_pool(uv_work_t* request) {
  auto* work = static_cast<VerificationWork*>(request->data);
  std::optional<std::string> computed = (*work->hasher)(work->password, work->hash);
  work->hashes_computed->fetch_add(1);
  // Compared even when the answer is fixed, so both paths do the same work.
  const bool same = computed && same_hash(*computed, work->hash);
  work->matches = same && !work->refuse;
  work->password.wipe();
}

void answer_on_loop(uv_work_t* request, int /*status*/) {
  std::unique_ptr<VerificationWork> work(static_cast<VerificationWork*>(request->data));
  // Moved out first: the callback may destroy the handle (and whatever owns it).
  PasswordVerifier::Done done = std::move(work->state->done);
  work->state->done = nullptr;
  // UV_ECANCELED (the loop is being torn down before the hash ran) is an ordinary mismatch.
  if (done) done(work->matches);
}

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
  auto state = std::make_shared<VerificationState>(VerificationState{std::move(done)});
  auto work = std::make_unique<VerificationWork>();
  work->hasher = hasher_;
  work->hashes_computed = hashes_computed_;
  work->password = std::move(password);
  work->hash = std::move(hash);
  work->refuse = refuse;
  work->state = state;
  work->request.data = work.get();
  if (uv_queue_work(loop_.raw(), &work->request, hash_on_pool, answer_on_loop) != 0) {
    // Cannot happen with valid arguments; answer "no" on the next tick rather than never.
    loop_.defer([state] {
      auto answer = std::move(state->done);
      state->done = nullptr;
      if (answer) answer(false);
    });
    return std::make_unique<VerificationHandle>(std::move(state));
  }
  work.release();  // libuv's until answer_on_loop
  return std::make_unique<VerificationHandle>(std::move(state));
}

}  // namespace popgate
