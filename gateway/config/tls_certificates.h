// TlsCertificates: popgate's server certificate, swapped atomically on SIGHUP.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "gateway/io/tls_context.h"
#include "protocol/common/result.h"

namespace popgate {

class TlsCertificates {
 public:
  static Result<std::unique_ptr<TlsCertificates>> load(std::string cert_file, std::string key_file);

  // The context new sessions use; sessions keep the one they started with.
  std::shared_ptr<io::TlsServerContext> current() const;
  // Re-reads both files. On failure the current certificate stays and the error says why.
  Status reload();
  // The same with another pair of files (SIGHUP after the config changed them); on failure
  // the current files and certificate stay.
  Status reload(std::string cert_file, std::string key_file);

 private:
  TlsCertificates(std::string cert_file, std::string key_file, std::shared_ptr<io::TlsServerContext> context)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), current_(std::move(context)) {}

  mutable std::mutex mutex_;  // worker loops read it while the main loop reloads
  std::string cert_file_;
  std::string key_file_;
  std::shared_ptr<io::TlsServerContext> current_;
};

}  // namespace popgate
