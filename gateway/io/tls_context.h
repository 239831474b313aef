// TlsServerContext and TlsClientContext: the immutable BoringSSL SSL_CTX each side of a TLS stream starts
// from.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <utility>

#include "protocol/common/result.h"

namespace popgate::io {

// Empties this thread's BoringSSL error queue into one readable reason, the oldest error
// first ("wrong version number, ..."); empty if the queue was empty.
std::string drain_tls_errors();

// Server side: certificate chain + key, TLS 1.2 minimum, no renegotiation, no compression,
// BoringSSL's default ciphers. Immutable once built; SIGHUP reload builds a new one.
class TlsServerContext {
 public:
  // PEM files; the cert file may hold a full chain. Errors name the file and what failed
  // ("tls-cert /x.pem: no certificate found", "tls-key: does not match the certificate").
  static Result<std::shared_ptr<TlsServerContext>> load(const std::string& cert_file,
                                                        const std::string& key_file);
  SSL_CTX* get() const { return ctx_.get(); }

 private:
  explicit TlsServerContext(bssl::UniquePtr<SSL_CTX> ctx) : ctx_(std::move(ctx)) {}
  bssl::UniquePtr<SSL_CTX> ctx_;
};

struct TlsClientOptions {
  std::string ca_file;  // empty: the system bundle /etc/ssl/certs/ca-certificates.crt
  bool verify = true;   // false only for --upstream-insecure
};

class TlsClientContext {
 public:
  static Result<std::shared_ptr<TlsClientContext>> create(const TlsClientOptions& options);
  SSL_CTX* get() const { return ctx_.get(); }
  bool verify() const { return verify_; }

 private:
  TlsClientContext(bssl::UniquePtr<SSL_CTX> ctx, bool verify) : ctx_(std::move(ctx)), verify_(verify) {}
  bssl::UniquePtr<SSL_CTX> ctx_;
  bool verify_;
};

}  // namespace popgate::io
