// TLS contexts: PEM files read and checked up front, so a bad certificate fails at start-up
// (or at a SIGHUP reload) with a line naming the file, never at the first handshake.
#include "gateway/io/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

namespace popgate::io {

namespace {

constexpr const char* kSystemBundle = "/etc/ssl/certs/ca-certificates.crt";
// The largest PEM file we accept: a chain is a few KiB, a system bundle a few hundred.
constexpr std::streamsize kMaxPemFileSize = 16 << 20;

Error config_error(const std::string& what, const std::string& file, const std::string& problem) {
  std::string detail = what;
  if (!file.empty()) detail += " " + file;
  detail += ": " + problem;
  return make_error(ErrorKind::Permanent, std::move(detail));
}

// Reads a whole file; on failure `problem` says why.
bool read_file(const std::string& path, std::string& contents, std::string& problem) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problem = std::string("cannot read: ") + std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    problem = "cannot read";
    return false;
  }
  contents = std::move(buffer).str();
  if (static_cast<std::streamsize>(contents.size()) > kMaxPemFileSize) {
    problem = "file too large";
    return false;
  }
  return true;
}

bssl::UniquePtr<BIO> memory_bio(const std::string& contents) {
  return bssl::UniquePtr<BIO>(BIO_new_mem_buf(contents.data(), static_cast<int>(contents.size())));
}

// Encrypted keys are not supported: never prompt on a terminal for a passphrase.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

// Both sides: TLS 1.2 or later (BoringSSL has no compression and, by default, refuses renegotiation).
bssl::UniquePtr<SSL_CTX> new_context() {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) return nullptr;
  if (!SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION)) return nullptr;
  return ctx;
}

std::string readable(const char* reason) {
  // BoringSSL's reasons are identifiers ("WRONG_VERSION_NUMBER"); the log reads better in words.
  std::string text(reason);
  for (char& c : text) c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string drain_tls_errors() {
  std::string reason;
  while (uint32_t code = ERR_get_error()) {
    if (!reason.empty()) reason += ", ";
    if (const char* text = ERR_reason_error_string(code)) {
      reason += readable(text);
    } else {
      char buffer[128];
      ERR_error_string_n(code, buffer, sizeof(buffer));
      reason += buffer;
    }
  }
  return reason;
}

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::load(const std::string& cert_file,
                                                                 const std::string& key_file) {
  ERR_clear_error();
  std::string problem;
  std::string cert_pem;
  if (!read_file(cert_file, cert_pem, problem)) return config_error("tls-cert", cert_file, problem);
  std::string key_pem;
  if (!read_file(key_file, key_pem, problem)) return config_error("tls-key", key_file, problem);

  // The first certificate is the server's; any after it are its chain, leaf to root.
  bssl::UniquePtr<BIO> cert_bio = memory_bio(cert_pem);
  bssl::UniquePtr<X509> leaf(cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, no_passphrase, nullptr)
                                      : nullptr);
  if (!leaf) {
    ERR_clear_error();
    return config_error("tls-cert", cert_file, "no certificate found");
  }
  std::vector<bssl::UniquePtr<X509>> chain;
  while (X509* next = PEM_read_bio_X509(cert_bio.get(), nullptr, no_passphrase, nullptr))
    chain.emplace_back(next);
  // The loop ends at the end of the file (no start line) or at a damaged block.
  uint32_t last = ERR_peek_last_error();
  if (last != 0 && !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    return config_error("tls-cert", cert_file, "damaged certificate in the chain: " + drain_tls_errors());
  }
  ERR_clear_error();

  bssl::UniquePtr<BIO> key_bio = memory_bio(key_pem);
  bssl::UniquePtr<EVP_PKEY> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  if (!key) {
    ERR_clear_error();
    return config_error("tls-key", key_file, "no private key found (encrypted keys are not supported)");
  }
  if (!X509_check_private_key(leaf.get(), key.get())) {
    ERR_clear_error();
    return config_error("tls-key", key_file, "does not match the certificate in " + cert_file);
  }

  bssl::UniquePtr<SSL_CTX> ctx = new_context();
  if (!ctx) return make_error(ErrorKind::Internal, "tls: cannot create a context: " + drain_tls_errors());
  if (!SSL_CTX_use_certificate(ctx.get(), leaf.get())) {
    return config_error("tls-cert", cert_file, "unusable certificate: " + drain_tls_errors());
  }
  for (const bssl::UniquePtr<X509>& certificate : chain) {
    if (!SSL_CTX_add1_chain_cert(ctx.get(), certificate.get())) {
      return config_error("tls-cert", cert_file, "unusable chain certificate: " + drain_tls_errors());
    }
  }
  if (!SSL_CTX_use_PrivateKey(ctx.get(), key.get())) {
    return config_error("tls-key", key_file, "unusable private key: " + drain_tls_errors());
  }
  return std::shared_ptr<TlsServerContext>(new TlsServerContext(std::move(ctx)));
}

Result<std::shared_ptr<TlsClientContext>> TlsClientContext::create(const TlsClientOptions& options) {
  ERR_clear_error();
  bssl::UniquePtr<SSL_CTX> ctx = new_context();
  if (!ctx) return make_error(ErrorKind::Internal, "tls: cannot create a context: " + drain_tls_errors());
  if (options.verify) {
    const std::string ca_file = options.ca_file.empty() ? kSystemBundle : options.ca_file;
    std::string contents;
    std::string problem;
    if (!read_file(ca_file, contents, problem)) return config_error("tls-ca", ca_file, problem);
    if (!SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr)) {
      std::string reason = drain_tls_errors();
      return config_error("tls-ca", ca_file,
                          "no usable CA certificate found" + (reason.empty() ? "" : ": " + reason));
    }
    // The host name (or address) to match is set per connection, in TlsTransport::connect.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return std::shared_ptr<TlsClientContext>(new TlsClientContext(std::move(ctx), options.verify));
}

}  // namespace popgate::io
