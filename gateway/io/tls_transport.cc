// TlsTransport: BoringSSL driven over two memory BIOs, the way Envoy's SslSocket drives it.
//
// Ciphertext from the inner transport is BIO_written into `network_in_`; SSL_do_handshake
// and SSL_read consume it. What BoringSSL writes into `network_out_` is handed to the inner
// transport after every call that may produce some. Every SSL_get_error case is handled
// where it can occur. The handler (and `done`) may destroy this object from inside any
// callback, so each call into them is followed by a check of a watch on `alive_` (liveness.h).
#include "gateway/io/tls_transport.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>
#include <span>
#include <string>
#include <utility>

#include "protocol/common/wipe.h"

namespace popgate::io {

namespace {

// One SSL_write step: its ciphertext goes to the inner transport before the next is made.
constexpr size_t kMaxWriteStep = 64 * 1024;

const char* const kHandshakeEof = "connection closed during the TLS handshake";
const char* const kTruncated = "connection closed without TLS close_notify";

bool is_ip_literal(const std::string& name) {
  in6_addr address{};
  return inet_pton(AF_INET, name.c_str(), &address) == 1 || inet_pton(AF_INET6, name.c_str(), &address) == 1;
}

bool is_verify_failure(uint32_t code) {
  return code != 0 && ERR_GET_LIB(code) == ERR_LIB_SSL &&
         ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

// The SSL object and its two memory BIOs; null (with the reason in the error queue) on failure.
bssl::UniquePtr<SSL> new_ssl(SSL_CTX* ctx, BIO*& network_in, BIO*& network_out) {
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx));
  bssl::UniquePtr<BIO> in(BIO_new(BIO_s_mem()));
  bssl::UniquePtr<BIO> out(BIO_new(BIO_s_mem()));
  if (!ssl || !in || !out) return nullptr;
  // An empty input BIO means "wait for more" (WANT_READ), until the inner transport's EOF.
  BIO_set_mem_eof_return(in.get(), -1);
  network_in = in.get();
  network_out = out.get();
  SSL_set_bio(ssl.get(), in.release(), out.release());
  // write() may append to the queued plaintext an SSL_write is to be retried from.
  SSL_set_mode(ssl.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_renegotiate_mode(ssl.get(), ssl_renegotiate_never);
  return ssl;
}

}  // namespace

TlsCounters& tls_counters() {
  static TlsCounters counters;
  return counters;
}

struct TlsTransport::InnerEvents final : TransportHandler {
  explicit InnerEvents(TlsTransport& owner) : owner(owner) {}
  void on_data(std::string_view data) override { owner.on_inner_data(data); }
  void on_end(const StreamEnd& end) override { owner.on_inner_end(end); }
  void on_drained() override { owner.on_inner_drained(); }
  TlsTransport& owner;
};

TlsTransport::TlsTransport(Loop& loop, TransportPtr inner, bssl::UniquePtr<SSL> ssl,
                           uint64_t handshake_timeout_ms, HandshakeDone done)
    : loop_(loop),
      ssl_(std::move(ssl)),
      done_(std::move(done)),
      handshake_timer_(loop),
      pump_timer_(loop),
      events_(std::make_unique<InnerEvents>(*this)),
      inner_(std::move(inner)) {
  inner_->set_handler(events_.get());
  inner_->start_reading();  // during the handshake, whatever the handler wants
  if (handshake_timeout_ms > 0) {
    handshake_timer_.start(handshake_timeout_ms, [this] { fail_handshake("TLS handshake timed out"); });
  }
}

std::unique_ptr<TlsTransport> TlsTransport::accept(Loop& loop, TransportPtr inner,
                                                   std::shared_ptr<TlsServerContext> context,
                                                   uint64_t handshake_timeout_ms, HandshakeDone done) {
  ERR_clear_error();
  BIO* network_in = nullptr;
  BIO* network_out = nullptr;
  bssl::UniquePtr<SSL> ssl = new_ssl(context->get(), network_in, network_out);
  if (ssl) SSL_set_accept_state(ssl.get());
  std::unique_ptr<TlsTransport> transport(
      new TlsTransport(loop, std::move(inner), std::move(ssl), handshake_timeout_ms, std::move(done)));
  transport->network_in_ = network_in;
  transport->network_out_ = network_out;
  if (!transport->ssl_) {
    transport->pending_failure_ = "TLS setup failed: " + drain_tls_errors();
    transport->schedule_pump();
  }
  // Otherwise the server speaks only when the ClientHello arrives.
  return transport;
}

std::unique_ptr<TlsTransport> TlsTransport::connect(Loop& loop, TransportPtr inner,
                                                    std::shared_ptr<TlsClientContext> context,
                                                    const std::string& server_name,
                                                    uint64_t handshake_timeout_ms, HandshakeDone done) {
  ERR_clear_error();
  BIO* network_in = nullptr;
  BIO* network_out = nullptr;
  bssl::UniquePtr<SSL> ssl = new_ssl(context->get(), network_in, network_out);
  std::string setup_failure;
  if (!ssl) {
    setup_failure = "TLS setup failed: " + drain_tls_errors();
  } else {
    SSL_set_connect_state(ssl.get());
    // Bracketed IPv6 ("[::1]") is accepted as well as the bare form.
    std::string name = server_name;
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    const bool ip = is_ip_literal(name);
    // RFC 6066 §3: literal IP addresses are not permitted in SNI.
    if (!ip && !name.empty() && !SSL_set_tlsext_host_name(ssl.get(), name.c_str())) {
      setup_failure = "TLS setup failed: bad server name: " + drain_tls_errors();
    }
    if (context->verify() && setup_failure.empty()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
      if (name.empty()) {
        setup_failure = "TLS setup failed: no server name to check the certificate against";
      } else if (!(ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()))) {
        setup_failure = "TLS setup failed: cannot check the certificate against " + name;
      }
    }
    ERR_clear_error();
  }
  std::unique_ptr<TlsTransport> transport(
      new TlsTransport(loop, std::move(inner), std::move(ssl), handshake_timeout_ms, std::move(done)));
  transport->network_in_ = network_in;
  transport->network_out_ = network_out;
  transport->pending_failure_ = std::move(setup_failure);
  transport->schedule_pump();  // the ClientHello goes out from the loop, like any failure
  return transport;
}

TlsTransport::~TlsTransport() {
  alive_.revoke();
  wipe(pending_plaintext_);
  // inner_ is destroyed first (declared last): an abort unless end() ran.
}

void TlsTransport::schedule_pump() {
  pump_timer_.start(0, [this] { pump(); });
}

void TlsTransport::pump() {
  switch (state_) {
    case State::Handshaking:
      if (!pending_failure_.empty()) {
        fail_handshake(std::exchange(pending_failure_, {}));
        return;
      }
      advance_handshake();
      return;
    case State::Open:
      if (write_failed_ && !pending_failure_.empty()) {
        notify_end({false, std::exchange(pending_failure_, {})});
        return;
      }
      read_plaintext();
      return;
    case State::Failed:
      return;
  }
}

void TlsTransport::on_inner_data(std::string_view ciphertext) {
  if (state_ == State::Failed || read_done_ || !ssl_) return;
  if (BIO_write(network_in_, ciphertext.data(), static_cast<int>(ciphertext.size())) !=
      static_cast<int>(ciphertext.size())) {
    // Only a failed allocation gets here.
    if (state_ == State::Handshaking) {
      fail_handshake("TLS handshake failed: out of memory");
    } else {
      ++tls_counters().stream_errors;
      notify_end({false, "TLS error: out of memory"});
    }
    return;
  }
  if (state_ == State::Handshaking) {
    advance_handshake();
    return;
  }
  if (!pending_plaintext_.empty()) {
    Liveness::Watch alive = alive_.watch();
    encrypt_pending();
    if (!alive) return;
  }
  read_plaintext();
}

void TlsTransport::on_inner_end(const StreamEnd& end) {
  if (state_ == State::Failed || read_done_) return;
  if (!end.clean) {
    // The connection is broken: whatever is still buffered cannot be answered anyway.
    if (state_ == State::Handshaking) {
      fail_handshake("connection lost during the TLS handshake: " + end.reason);
    } else {
      ++tls_counters().stream_errors;
      notify_end({false, end.reason});
    }
    return;
  }
  // A TCP EOF: from now on an empty input BIO reads as EOF, and BoringSSL tells a clean
  // close_notify (SSL_ERROR_ZERO_RETURN) from a truncation (SSL_ERROR_SYSCALL) once the
  // buffered records are consumed.
  inner_eof_ = true;
  if (ssl_) BIO_set_mem_eof_return(network_in_, 0);
  if (state_ == State::Handshaking) {
    if (ssl_) {
      advance_handshake();
    } else {
      fail_handshake(kHandshakeEof);
    }
    return;
  }
  read_plaintext();  // does nothing while the handler is not reading: start_reading() resumes
}

void TlsTransport::on_inner_drained() {
  if (state_ != State::Open || ending_ || handler_ == nullptr) return;
  above_high_ = false;
  handler_->on_drained();  // may destroy this
}

void TlsTransport::advance_handshake() {
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    int error = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), rc);
    std::string reason;
    if (error == SSL_ERROR_SSL || error == SSL_ERROR_SYSCALL) reason = failure_reason(error);
    // Our next flight, or the alert that tells the peer why we give up.
    size_t flushed = flush_ciphertext();
    switch (error) {
      case SSL_ERROR_NONE:
        complete_handshake();
        return;
      case SSL_ERROR_WANT_READ:
        return;  // the peer's next flight has not arrived yet
      case SSL_ERROR_WANT_WRITE:
        // Memory BIOs never refuse a write; should one, it was just flushed: try again.
        if (flushed > 0) continue;
        fail_handshake("TLS handshake failed: no progress writing");
        return;
      case SSL_ERROR_ZERO_RETURN:
        fail_handshake("TLS handshake failed: the peer sent close_notify");
        return;
      case SSL_ERROR_SYSCALL:
      case SSL_ERROR_SSL:
        fail_handshake(std::move(reason));
        return;
      default:  // callbacks we never install (certificate selection, private key offload)
        fail_handshake("TLS handshake failed: unexpected SSL_get_error " + std::to_string(error));
        return;
    }
  }
}

void TlsTransport::complete_handshake() {
  handshake_timer_.stop();
  state_ = State::Open;
  ++tls_counters().handshakes;
  if (!SSL_is_server(ssl_.get())) ++tls_counters().client_handshakes;
  if (!want_reading_) inner_->stop_reading();
  encrypt_pending();  // a failure is reported from the loop, after `done`

  Liveness::Watch alive = alive_.watch();
  HandshakeDone done = std::move(done_);
  done_ = nullptr;
  if (done) done(Ok{});
  if (!alive || state_ != State::Open || ending_) return;

  // Plaintext queued before the handshake may have passed the high watermark, then gone
  // to the inner transport without passing its own: the inner will not report the drain.
  if (above_high_ && inner_->queued_bytes() <= inner_->watermarks().high) {
    above_high_ = false;
    if (handler_ != nullptr) {
      handler_->on_drained();
      if (!alive || ending_) return;
    }
  }
  // Application data may have come with the peer's last handshake flight.
  read_plaintext();
}

void TlsTransport::fail_handshake(std::string reason) {
  if (state_ != State::Handshaking) return;
  state_ = State::Failed;
  handshake_timer_.stop();
  pump_timer_.stop();
  wipe(pending_plaintext_);
  ++tls_counters().handshake_failures;
  if (!SSL_is_server(ssl_.get())) ++tls_counters().client_handshake_failures;
  // Sends the alert already flushed, then closes: the peer learns why at once.
  inner_->end();
  HandshakeDone done = std::move(done_);
  done_ = nullptr;
  if (done && !ending_) done(make_error(ErrorKind::Temporary, std::move(reason)));  // may destroy this
}

void TlsTransport::read_plaintext() {
  Liveness::Watch alive = alive_.watch();
  std::span<char> buffer = loop_.read_buffer();
  const int capacity = static_cast<int>(std::min<size_t>(buffer.size(), INT_MAX));
  // The loop's read buffer is free: the ciphertext that pointed into it was copied into the BIO.
  while (state_ == State::Open && want_reading_ && handler_ != nullptr && !read_done_ && !ending_) {
    ERR_clear_error();
    int rc = SSL_read(ssl_.get(), buffer.data(), capacity);
    if (rc > 0) {
      handler_->on_data({buffer.data(), static_cast<size_t>(rc)});
      if (!alive) return;
      continue;
    }
    int error = SSL_get_error(ssl_.get(), rc);
    std::string reason;
    if (error == SSL_ERROR_SSL || error == SSL_ERROR_SYSCALL) reason = failure_reason(error);
    // A KeyUpdate answer, or the alert sent on a failure.
    size_t flushed = flush_ciphertext();
    switch (error) {
      case SSL_ERROR_WANT_READ:
        return;  // the next record is not complete yet
      case SSL_ERROR_WANT_WRITE:
        if (flushed > 0) continue;
        ++tls_counters().stream_errors;
        notify_end({false, "TLS error: no progress writing"});
        return;
      case SSL_ERROR_ZERO_RETURN:
        notify_end({true, {}});  // close_notify
        return;
      case SSL_ERROR_SYSCALL:
      case SSL_ERROR_SSL:
        ++tls_counters().stream_errors;
        notify_end({false, std::move(reason)});
        return;
      default:
        ++tls_counters().stream_errors;
        notify_end({false, "TLS error: unexpected SSL_get_error " + std::to_string(error)});
        return;
    }
  }
}

size_t TlsTransport::encrypt(std::string_view data) {
  size_t consumed = 0;
  while (consumed < data.size() && !write_failed_) {
    // After WANT_WRITE or WANT_READ, BoringSSL requires the same length again.
    int length =
        retry_length_ > 0 ? retry_length_ : static_cast<int>(std::min(data.size() - consumed, kMaxWriteStep));
    ERR_clear_error();
    int rc = SSL_write(ssl_.get(), data.data() + consumed, length);
    if (rc > 0) {
      retry_length_ = 0;
      consumed += static_cast<size_t>(rc);
      flush_ciphertext();
      continue;
    }
    int error = SSL_get_error(ssl_.get(), rc);
    std::string reason;
    if (error == SSL_ERROR_SSL || error == SSL_ERROR_SYSCALL) reason = failure_reason(error);
    size_t flushed = flush_ciphertext();
    switch (error) {
      case SSL_ERROR_WANT_WRITE:
        retry_length_ = length;
        if (flushed > 0) continue;
        fail_write("TLS error: no progress writing");
        return consumed;
      case SSL_ERROR_WANT_READ:
        // BoringSSL must read the peer's next message first: retried when ciphertext arrives.
        retry_length_ = length;
        return consumed;
      case SSL_ERROR_ZERO_RETURN:
        fail_write("TLS error: the stream is closed");
        return consumed;
      case SSL_ERROR_SYSCALL:
      case SSL_ERROR_SSL:
        fail_write(std::move(reason));
        return consumed;
      default:
        fail_write("TLS error: unexpected SSL_get_error " + std::to_string(error));
        return consumed;
    }
  }
  return consumed;
}

void TlsTransport::encrypt_pending() {
  if (pending_plaintext_.empty() || state_ != State::Open || write_failed_) return;
  size_t consumed = encrypt(pending_plaintext_);
  wipe_front(pending_plaintext_, consumed);
}

void TlsTransport::fail_write(std::string reason) {
  if (write_failed_) return;
  write_failed_ = true;
  retry_length_ = 0;
  wipe(pending_plaintext_);
  ++tls_counters().stream_errors;
  if (end_notified_ || ending_) return;
  pending_failure_ = std::move(reason);
  schedule_pump();  // never call the handler back inside its own write()
}

size_t TlsTransport::flush_ciphertext() {
  const uint8_t* contents = nullptr;
  size_t length = 0;
  if (network_out_ == nullptr || !BIO_mem_contents(network_out_, &contents, &length) || length == 0) return 0;
  inner_->write({reinterpret_cast<const char*>(contents), length});  // copies or sends now
  BIO_reset(network_out_);
  return length;
}

std::string TlsTransport::failure_reason(int ssl_error) {
  const bool handshaking = state_ == State::Handshaking;
  // A client that verifies: say which check failed, not just that one did.
  if (handshaking && !SSL_is_server(ssl_.get()) && (SSL_get_verify_mode(ssl_.get()) & SSL_VERIFY_PEER) &&
      (is_verify_failure(ERR_peek_error()) || is_verify_failure(ERR_peek_last_error()))) {
    long result = SSL_get_verify_result(ssl_.get());
    ERR_clear_error();
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
  }
  std::string reason = drain_tls_errors();
  if (reason.empty()) {
    // SSL_ERROR_SYSCALL with an empty queue: the memory BIO reported the inner transport's EOF.
    if (ssl_error == SSL_ERROR_SYSCALL) return handshaking ? kHandshakeEof : kTruncated;
    reason = "unknown error";
  }
  return (handshaking ? "TLS handshake failed: " : "TLS error: ") + reason;
}

void TlsTransport::notify_end(StreamEnd end) {
  read_done_ = true;
  if (end_notified_) return;
  end_notified_ = true;
  if (state_ == State::Open) inner_->stop_reading();
  if (handler_ != nullptr && !ending_) handler_->on_end(end);  // may destroy this
}

bool TlsTransport::has_buffered_input() const {
  if (inner_eof_) return true;
  return ssl_ && (SSL_has_pending(ssl_.get()) || BIO_pending(network_in_) > 0);
}

void TlsTransport::set_handler(TransportHandler* handler) {
  if (!ending_) handler_ = handler;
}

void TlsTransport::start_reading() {
  want_reading_ = true;
  if (state_ != State::Open || ending_ || read_done_) return;
  inner_->start_reading();
  // Records already buffered are delivered from the loop, never inside this call.
  if (has_buffered_input()) schedule_pump();
}

void TlsTransport::stop_reading() {
  want_reading_ = false;
  // Decrypted data stays in BoringSSL's buffers; nothing more is read from the socket.
  if (state_ == State::Open && !ending_ && !read_done_) inner_->stop_reading();
}

void TlsTransport::write(std::string_view data) {
  if (data.empty() || ending_ || state_ == State::Failed || write_failed_) return;
  if (state_ == State::Handshaking || !pending_plaintext_.empty()) {
    pending_plaintext_.append(data);  // encrypted after the handshake, or on the retry
  } else {
    size_t consumed = encrypt(data);
    if (consumed < data.size() && !write_failed_) pending_plaintext_.append(data.substr(consumed));
  }
  if (queued_bytes() > watermarks().high) above_high_ = true;
}

size_t TlsTransport::queued_bytes() const {
  return pending_plaintext_.size() + inner_->queued_bytes();
}

const Watermarks& TlsTransport::watermarks() const {
  return inner_->watermarks();
}

void TlsTransport::end() {
  if (ending_) return;
  ending_ = true;
  handler_ = nullptr;
  done_ = nullptr;
  handshake_timer_.stop();
  pump_timer_.stop();
  if (state_ == State::Open && !write_failed_) {
    encrypt_pending();
    if (!write_failed_) {
      // close_notify; the peer's own close_notify is not waited for (RFC 8446 §6.1 allows it).
      ERR_clear_error();
      SSL_shutdown(ssl_.get());
      ERR_clear_error();
      flush_ciphertext();
    }
  }
  inner_->end();
}

const PeerInfo& TlsTransport::peer() const {
  return inner_->peer();
}

bool TlsTransport::secure() const {
  return state_ == State::Open;
}

std::string_view TlsTransport::protocol_version() const {
  if (state_ != State::Open) return {};
  return SSL_get_version(ssl_.get());
}

std::string_view TlsTransport::cipher() const {
  if (state_ != State::Open) return {};
  const SSL_CIPHER* current = SSL_get_current_cipher(ssl_.get());
  return current != nullptr ? SSL_CIPHER_get_name(current) : std::string_view{};
}

}  // namespace popgate::io
