// StaticSecret: a CredentialSource holding a fixed password, read once from a file or an
// environment variable (the Kubernetes Secret way) when the accounts file is loaded.
#pragma once

#include "gateway/identity/credential_source.h"
#include "gateway/io/loop.h"

namespace popgate {

class StaticSecret final : public CredentialSource {
 public:
  StaticSecret(io::Loop& loop, SecretString secret) : loop_(loop), secret_(std::move(secret)) {}

  PendingFetchPtr fetch(Done done) override;
  CredentialKind kind() const override { return CredentialKind::Password; }

 private:
  io::Loop& loop_;
  SecretString secret_;
};

// Blocking (start-up and SIGHUP only): the contents of `path` without one trailing newline
// (what `echo secret > file` adds). An Error (Permanent) names the file and errno's text.
Result<SecretString> read_secret_file(const std::string& path);

}  // namespace popgate
