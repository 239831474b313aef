// WorkerCredentialSource: a worker loop's view of a CredentialSource that lives on the main loop
// (an OAuth2 client: one OAuth2TokenManager per process, so that two workers never race a
// rotating refresh token). The fetch runs on the main loop; the answer comes back on the worker's.
#pragma once

#include "gateway/identity/credential_source.h"
#include "gateway/io/loop_channel.h"

namespace popgate {

class WorkerCredentialSource final : public CredentialSource {
 public:
  // `home` reaches the loop `inner` belongs to; `here` the worker loop that calls fetch().
  WorkerCredentialSource(CredentialSourcePtr inner, io::LoopChannel::Sender home,
                         io::LoopChannel::Sender here);

  // As CredentialSource promises: `done` runs once, later, on the worker loop, unless the handle is
  // destroyed first (the fetch on the main loop is then cancelled too). Should the main loop be
  // gone (the process is stopping), `done` never runs; the session is shut down anyway.
  PendingFetchPtr fetch(Done done) override;
  CredentialKind kind() const override { return kind_; }

 private:
  CredentialSourcePtr inner_;
  CredentialKind kind_;
  io::LoopChannel::Sender home_;
  io::LoopChannel::Sender here_;
};

// Wraps every source `resolver` gives with a WorkerCredentialSource (a null resolver stays null).
OAuth2ClientResolver resolve_on_home_loop(OAuth2ClientResolver resolver, io::LoopChannel::Sender home,
                                          io::LoopChannel::Sender here);

}  // namespace popgate
