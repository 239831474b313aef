// Loading and reloading the server certificate.
#include "gateway/tls_certificates.h"

namespace popgate {

Result<std::unique_ptr<TlsCertificates>> TlsCertificates::load(std::string cert_file, std::string key_file) {
  auto context = io::TlsServerContext::load(cert_file, key_file);
  if (!context) return context.error();
  return std::unique_ptr<TlsCertificates>(
      new TlsCertificates(std::move(cert_file), std::move(key_file), std::move(context).value()));
}

std::shared_ptr<io::TlsServerContext> TlsCertificates::current() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return current_;
}

Status TlsCertificates::reload() {
  auto context = io::TlsServerContext::load(cert_file_, key_file_);
  if (!context) return context.error();
  std::lock_guard<std::mutex> guard(mutex_);
  current_ = std::move(context).value();
  return Ok{};
}

}  // namespace popgate
