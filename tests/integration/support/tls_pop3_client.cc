// A small blocking POP3 client over TLS for tests (BoringSSL): implicit TLS or STLS, verifying the
// server against a test CA and a host name, and showing which certificate the server presented.
#include "tests/integration/support/tls_pop3_client.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

std::string tls_errors() {
  std::string text;
  while (uint32_t code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text += (text.empty() ? "" : "; ") + std::string(buffer);
  }
  return text;
}

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string strip_crlf(std::string line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

TlsPop3Client::TlsPop3Client(uint16_t port, TlsClientOptions options) : options_(std::move(options)) {
  fd_ = connect_loopback(port);
  set_timeouts(fd_, options_.io_timeout);
}

TlsPop3Client::~TlsPop3Client() {
  ssl_.reset();
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<TlsPop3Client> TlsPop3Client::implicit_tls(uint16_t port, TlsClientOptions options) {
  std::unique_ptr<TlsPop3Client> client(new TlsPop3Client(port, std::move(options)));
  client->handshake();
  client->greeting_ = client->read_status_line();
  return client;
}

std::unique_ptr<TlsPop3Client> TlsPop3Client::plain(uint16_t port, TlsClientOptions options) {
  std::unique_ptr<TlsPop3Client> client(new TlsPop3Client(port, std::move(options)));
  client->greeting_ = client->read_status_line();
  return client;
}

void TlsPop3Client::handshake() {
  ERR_clear_error();
  ctx_.reset(SSL_CTX_new(TLS_method()));
  if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + tls_errors());
  if (!options_.ca_file.empty()) {
    if (!SSL_CTX_load_verify_locations(ctx_.get(), options_.ca_file.c_str(), nullptr)) {
      throw std::runtime_error("cannot load " + options_.ca_file + ": " + tls_errors());
    }
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }
  ssl_.reset(SSL_new(ctx_.get()));
  if (!ssl_ || !SSL_set_fd(ssl_.get(), fd_) ||
      !SSL_set_tlsext_host_name(ssl_.get(), options_.host_name.c_str())) {
    throw std::runtime_error("SSL setup: " + tls_errors());
  }
  if (!options_.ca_file.empty()) {
    X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl_.get()), options_.host_name.data(),
                                options_.host_name.size());
  }
  const int rc = SSL_connect(ssl_.get());
  if (rc != 1) {
    const int error = SSL_get_error(ssl_.get(), rc);
    const int saved_errno = errno;
    std::string reason = "TLS handshake failed (SSL_get_error " + std::to_string(error) + ")";
    const long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK)
      reason += ": certificate verify failed: " + std::string(X509_verify_cert_error_string(verify));
    const std::string queue = tls_errors();
    if (!queue.empty()) reason += ": " + queue;
    if (error == SSL_ERROR_SYSCALL)
      reason += ": " + std::string(saved_errno != 0 ? std::strerror(saved_errno) : "EOF");
    ssl_.reset();
    throw std::runtime_error(reason);
  }
}

std::string TlsPop3Client::stls() {
  write_all("STLS\r\n");
  std::string reply = read_status_line();
  if (reply.rfind("+OK", 0) != 0) return reply;
  // RFC 2595 §4: the server's next bytes are its TLS handshake, nothing else.
  if (!buffer_.empty()) throw std::runtime_error("plaintext after the STLS reply: " + buffer_);
  handshake();
  return reply;
}

void TlsPop3Client::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    long n;
    if (ssl_) {
      n = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
      if (n <= 0) throw std::runtime_error("SSL_write failed: " + tls_errors());
    } else {
      n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

bool TlsPop3Client::fill() {
  char chunk[16384];
  for (;;) {
    errno = 0;
    if (ssl_) {
      const int n = SSL_read(ssl_.get(), chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      const int error = SSL_get_error(ssl_.get(), n);
      if (error == SSL_ERROR_ZERO_RETURN) return false;
      if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET))
        return false;
      if (error == SSL_ERROR_WANT_READ || errno == EAGAIN || errno == EWOULDBLOCK) {
        throw std::runtime_error("timed out reading over TLS");
      }
      throw std::runtime_error("SSL_read failed (SSL_get_error " + std::to_string(error) +
                               "): " + tls_errors());
    }
    const long n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) throw std::runtime_error("timed out reading");
    throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
  }
}

std::string TlsPop3Client::read_line() {
  for (;;) {
    const size_t lf = buffer_.find('\n');
    if (lf != std::string::npos) {
      std::string line = buffer_.substr(0, lf + 1);
      buffer_.erase(0, lf + 1);
      return line;
    }
    if (!fill()) throw std::runtime_error("connection closed; unterminated data: " + buffer_);
  }
}

std::string TlsPop3Client::read_status_line() {
  return strip_crlf(read_line());
}

std::string TlsPop3Client::command(std::string_view line) {
  write_all(std::string(line) + "\r\n");
  return read_status_line();
}

Pop3Response TlsPop3Client::multiline(std::string_view line) {
  write_all(std::string(line) + "\r\n");
  Pop3Response response;
  response.status = read_status_line();
  if (!response.ok()) return response;
  for (;;) {
    std::string body_line = read_line();
    if (body_line == ".\r\n") return response;
    response.body += body_line;
  }
}

std::string TlsPop3Client::login(std::string_view user, std::string_view password) {
  std::string status = command("USER " + std::string(user));
  if (status.rfind("+OK", 0) != 0) return status;
  return command("PASS " + std::string(password));
}

std::string TlsPop3Client::peer_certificate_der() const {
  if (!ssl_) return {};
  bssl::UniquePtr<X509> peer(SSL_get_peer_certificate(ssl_.get()));
  if (!peer) return {};
  uint8_t* der = nullptr;
  const int length = i2d_X509(peer.get(), &der);
  if (length <= 0) return {};
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

bool TlsPop3Client::wait_for_close(std::chrono::milliseconds timeout) {
  set_timeouts(fd_, timeout);
  buffer_.clear();
  try {
    while (fill()) buffer_.clear();
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::string pem_certificate_der(const std::string& pem_file) {
  bssl::UniquePtr<BIO> bio(BIO_new_file(pem_file.c_str(), "r"));
  if (!bio) throw std::runtime_error("cannot open " + pem_file);
  bssl::UniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) throw std::runtime_error("no certificate in " + pem_file);
  uint8_t* der = nullptr;
  const int length = i2d_X509(cert.get(), &der);
  if (length <= 0) throw std::runtime_error("cannot encode the certificate of " + pem_file);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

std::string make_client_hello(const std::string& host_name) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  bssl::UniquePtr<SSL> ssl(ctx ? SSL_new(ctx.get()) : nullptr);
  if (!ssl) throw std::runtime_error("SSL_new: " + tls_errors());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // owns both
  SSL_set_tlsext_host_name(ssl.get(), host_name.c_str());
  SSL_set_connect_state(ssl.get());
  const int rc = SSL_do_handshake(ssl.get());
  if (rc == 1 || SSL_get_error(ssl.get(), rc) != SSL_ERROR_WANT_READ) {
    throw std::runtime_error("unexpected handshake state making a ClientHello");
  }
  const uint8_t* contents = nullptr;
  size_t length = 0;
  if (!BIO_mem_contents(out, &contents, &length) || length == 0) throw std::runtime_error("no ClientHello");
  return std::string(reinterpret_cast<const char*>(contents), length);
}

}  // namespace popgate::integration
