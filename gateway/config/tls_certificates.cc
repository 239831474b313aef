// Loading and reloading the server certificate.
#include "gateway/config/tls_certificates.h"

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
  std::unique_lock<std::mutex> guard(mutex_);
  std::string cert_file = cert_file_;
  std::string key_file = key_file_;
  guard.unlock();
  return reload(std::move(cert_file), std::move(key_file));
}

Status TlsCertificates::reload(std::string cert_file, std::string key_file) {
  auto context = io::TlsServerContext::load(cert_file, key_file);
  if (!context) return context.error();
  std::lock_guard<std::mutex> guard(mutex_);
  cert_file_ = std::move(cert_file);
  key_file_ = std::move(key_file);
  current_ = std::move(context).value();
  return Ok{};
}

}  // namespace popgate
