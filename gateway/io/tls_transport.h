// TlsTransport: TLS (BoringSSL over memory BIOs) on top of another Transport, either side.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls_context.h"
#include "gateway/io/transport.h"
#include "protocol/common/result.h"

namespace popgate::io {

using HandshakeDone = std::function<void(Status)>;

// Process-wide counts for the metrics endpoint, every loop's TLS streams together.
struct TlsCounters {
  std::atomic<uint64_t> handshakes{0};          // completed
  std::atomic<uint64_t> handshake_failures{0};  // failed, timed out, or the peer went away
  std::atomic<uint64_t> stream_errors{0};       // after the handshake: TLS errors and truncations
  // The client side's share of the two handshake counters (popgate's upstream connections).
  std::atomic<uint64_t> client_handshakes{0};
  std::atomic<uint64_t> client_handshake_failures{0};
};
TlsCounters& tls_counters();

// A Transport that runs TLS (BoringSSL over memory BIOs) on top of another Transport.
class TlsTransport final : public Transport {
 public:
  // Server side (STLS after "+OK", or an implicit-TLS listener). Takes over `inner`
  // (becomes its handler). `done` runs once, later, never inside the call: Ok after the
  // handshake, or an Error (Temporary) whose detail says what failed. A handshake_timeout_ms
  // of 0 means no timeout. After end() or destruction `done` is never called.
  static std::unique_ptr<TlsTransport> accept(Loop& loop, TransportPtr inner,
                                              std::shared_ptr<TlsServerContext> context,
                                              uint64_t handshake_timeout_ms, HandshakeDone done);
  // Client side: sends SNI `server_name` (unless it is an IP literal) and, when the context
  // verifies, checks the chain and that the certificate matches server_name (DNS name or IP
  // address, via X509_VERIFY_PARAM_set1_host / set1_ip_asc). A verification failure's detail
  // says exactly what failed, e.g. "certificate verify failed: certificate has expired",
  // "...: Hostname mismatch", "...: unable to get local issuer certificate" (X509_verify_cert_error_string).
  static std::unique_ptr<TlsTransport> connect(Loop& loop, TransportPtr inner,
                                               std::shared_ptr<TlsClientContext> context,
                                               const std::string& server_name, uint64_t handshake_timeout_ms,
                                               HandshakeDone done);
  // Destroys the inner transport too (an abort, unless end() was called).
  ~TlsTransport() override;

  // Transport: as in transport.h. Before the handshake completes, write() queues plaintext
  // (flushed after), and on_data is never called. secure() is true once the handshake is done.
  // peer() is the inner transport's. queued_bytes() counts plaintext not yet encrypted plus the
  // inner transport's queue; watermarks() are the inner's; on_drained is forwarded from the inner.
  // end(): send close_notify, then inner end(). A clean close_notify from the peer (or TCP EOF
  // after it) is on_end{clean=true}; a truncated stream or TLS alert is on_end{clean=false, reason}.
  void set_handler(TransportHandler* handler) override;
  void start_reading() override;
  void stop_reading() override;
  void write(std::string_view data) override;
  size_t queued_bytes() const override;
  const Watermarks& watermarks() const override;
  void end() override;
  const PeerInfo& peer() const override;
  bool secure() const override;

  std::string_view protocol_version() const;  // "TLSv1.3"; empty before the handshake
  std::string_view cipher() const;            // "TLS_AES_128_GCM_SHA256"; empty before the handshake

 private:
  enum class State {
    Handshaking,  // ciphertext flows, the handler is not called
    Open,         // handshake done
    Failed,       // the handshake failed or timed out: nothing is called any more
  };
  struct InnerEvents;  // the inner transport's handler

  TlsTransport(Loop& loop, TransportPtr inner, bssl::UniquePtr<SSL> ssl, uint64_t handshake_timeout_ms,
               HandshakeDone done);

  // Runs pending work from the loop: the first handshake step, a resumed read, a deferred end.
  void schedule_pump();
  void pump();

  void on_inner_data(std::string_view ciphertext);
  void on_inner_end(const StreamEnd& end);
  void on_inner_drained();

  void advance_handshake();
  void complete_handshake();
  void fail_handshake(std::string reason);
  // SSL_read while the handler reads; delivers plaintext and the end of the stream.
  void read_plaintext();
  // Encrypts what it can of `data` and returns how much that was (less after a failure, or
  // when BoringSSL must read first); the ciphertext goes to the inner transport.
  size_t encrypt(std::string_view data);
  void encrypt_pending();
  // A write failed: no more writes, and the handler hears of it from the loop.
  void fail_write(std::string reason);
  // Hands the ciphertext BoringSSL produced to the inner transport; returns its size.
  size_t flush_ciphertext();
  // The reason for an SSL_ERROR_SSL or SSL_ERROR_SYSCALL: the error queue, or the verify result.
  std::string failure_reason(int ssl_error);
  // Ends the stream for the handler at most once (the handler may destroy this).
  void notify_end(StreamEnd end);
  bool has_buffered_input() const;

  Loop& loop_;
  bssl::UniquePtr<SSL> ssl_;    // owns both memory BIOs
  BIO* network_in_ = nullptr;   // ciphertext from the peer, read by BoringSSL
  BIO* network_out_ = nullptr;  // ciphertext for the peer, written by BoringSSL
  HandshakeDone done_;
  TransportHandler* handler_ = nullptr;
  std::string pending_plaintext_;  // accepted by write() but not yet encrypted
  std::string pending_failure_;    // a setup or write failure, reported from the loop
  int retry_length_ = 0;           // an SSL_write to repeat with the same length, or 0
  State state_ = State::Handshaking;
  bool want_reading_ = false;  // the handler called start_reading()
  bool read_done_ = false;     // the end of the stream was decided; never SSL_read again
  bool inner_eof_ = false;     // the inner transport ended cleanly; BoringSSL judges the rest
  bool end_notified_ = false;
  bool write_failed_ = false;
  bool above_high_ = false;  // queued_bytes() passed the high watermark; on_drained is owed
  bool ending_ = false;      // end() was called
  Liveness alive_;
  Timer handshake_timer_;
  Timer pump_timer_;
  std::unique_ptr<InnerEvents> events_;
  TransportPtr inner_;  // declared last: destroyed first, before anything it could call
};

}  // namespace popgate::io
