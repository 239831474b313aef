// WorkerCredentialSource: fetch on the home loop, answer on the worker loop, cancel on both.
#include "gateway/workers/worker_credential_source.h"

#include <atomic>
#include <memory>
#include <utility>

namespace popgate {
namespace {

// One fetch. `done` is touched only on the worker loop, `pending` only on the home loop; the
// flag is what both read.
struct Call {
  std::atomic<bool> cancelled{false};
  CredentialSource::Done done;  // worker loop
  PendingFetchPtr pending;      // home loop: the inner fetch, destroyed there to cancel it
};

class PendingCall final : public PendingFetch {
 public:
  PendingCall(std::shared_ptr<Call> call, io::LoopChannel::Sender home)
      : call_(std::move(call)), home_(std::move(home)) {}
  // Worker loop: from now on `done` never runs, and the home loop drops the inner fetch.
  ~PendingCall() override {
    call_->cancelled = true;
    call_->done = nullptr;
    home_.post([call = call_] { call->pending.reset(); });
  }

 private:
  std::shared_ptr<Call> call_;
  io::LoopChannel::Sender home_;
};

}  // namespace

WorkerCredentialSource::WorkerCredentialSource(CredentialSourcePtr inner, io::LoopChannel::Sender home,
                                               io::LoopChannel::Sender here)
    : inner_(std::move(inner)), kind_(inner_->kind()), home_(std::move(home)), here_(std::move(here)) {}

PendingFetchPtr WorkerCredentialSource::fetch(Done done) {
  auto call = std::make_shared<Call>();
  call->done = std::move(done);
  home_.post([call, inner = inner_, here = here_] {
    if (call->cancelled) return;  // the session went away before the home loop got to it
    call->pending = inner->fetch([call, here](Result<SecretString> result) {
      here.post([call, result = std::move(result)]() mutable {
        if (call->cancelled || !call->done) return;
        auto done = std::move(call->done);
        call->done = nullptr;
        done(std::move(result));
      });
    });
  });
  return std::make_unique<PendingCall>(call, home_);
}

OAuth2ClientResolver resolve_on_home_loop(OAuth2ClientResolver resolver, io::LoopChannel::Sender home,
                                          io::LoopChannel::Sender here) {
  if (!resolver) return nullptr;
  return [resolver = std::move(resolver), home = std::move(home),
          here = std::move(here)](const std::string& client) -> Result<CredentialSourcePtr> {
    auto resolved = resolver(client);
    if (!resolved) return resolved;
    return CredentialSourcePtr(
        std::make_shared<WorkerCredentialSource>(std::move(resolved).value(), home, here));
  };
}

}  // namespace popgate
