// A small blocking POP3 client over TLS for tests (BoringSSL): implicit TLS or STLS, verifying the
// server against a test CA and a host name, and showing which certificate the server presented.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tests/integration/support/pop3_client.h"

namespace popgate::integration {

struct TlsClientOptions {
  std::string ca_file;                  // the only trusted root; empty: the certificate is not verified
  std::string host_name = "localhost";  // sent as SNI and checked against the certificate
  std::chrono::milliseconds io_timeout = std::chrono::seconds(10);
};

class TlsPop3Client {
 public:
  // Connects to 127.0.0.1:port, does the TLS handshake at once and reads the greeting. Throws
  // std::runtime_error (with the TLS reason) on failure.
  static std::unique_ptr<TlsPop3Client> implicit_tls(uint16_t port, TlsClientOptions options);
  // Connects in plaintext and reads the greeting; stls() upgrades the connection.
  static std::unique_ptr<TlsPop3Client> plain(uint16_t port, TlsClientOptions options);

  ~TlsPop3Client();
  TlsPop3Client(const TlsPop3Client&) = delete;
  TlsPop3Client& operator=(const TlsPop3Client&) = delete;

  const std::string& greeting() const { return greeting_; }
  bool secure() const { return ssl_ != nullptr; }

  // Sends STLS; on +OK does the handshake and returns the reply. Any other reply is returned as
  // is, the connection staying in plaintext. Throws if the handshake fails or the server sent
  // anything after its +OK before the handshake.
  std::string stls();

  // Sends `line` + CRLF and returns the status line (without CRLF).
  std::string command(std::string_view line);
  // Sends `line` + CRLF; if the answer is +OK reads the multi-line body too (CRLFs kept, still
  // dot-stuffed, terminating ".\r\n" removed).
  Pop3Response multiline(std::string_view line);
  // USER + PASS; returns the PASS status line (or the USER one if USER failed).
  std::string login(std::string_view user, std::string_view password);
  std::string read_status_line();

  // The DER bytes of the certificate the server presented; empty before TLS.
  std::string peer_certificate_der() const;
  // True if the server closes the connection (TLS close or TCP EOF/reset) within `timeout`.
  bool wait_for_close(std::chrono::milliseconds timeout);

 private:
  TlsPop3Client(uint16_t port, TlsClientOptions options);
  void handshake();
  void write_all(std::string_view bytes);
  // Reads more into buffer_; false on EOF. Throws on timeout or error.
  bool fill();
  std::string read_line();

  TlsClientOptions options_;
  int fd_ = -1;
  bssl::UniquePtr<SSL_CTX> ctx_;
  bssl::UniquePtr<SSL> ssl_;
  std::string buffer_;
  std::string greeting_;
};

// The first certificate of a PEM file, as DER; throws std::runtime_error if there is none.
std::string pem_certificate_der(const std::string& pem_file);

// A complete TLS ClientHello record for `host_name`, as a real client sends it first.
std::string make_client_hello(const std::string& host_name);

}  // namespace popgate::integration
