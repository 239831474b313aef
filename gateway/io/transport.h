// Transport: a byte stream (TCP now, TLS over TCP later) as every protocol layer sees it.
//
// The owner reads through a TransportHandler and writes with write(). Destroying a
// Transport aborts the connection; end() flushes what is queued, then closes. After
// either, the handler is never called again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace popgate::io {

struct PeerInfo {
  std::string address;     // numeric, "127.0.0.1" or "::1"
  uint16_t port = 0;
  bool loopback = false;   // 127.0.0.0/8 or ::1
};

// Why a stream ended. `clean` is an orderly EOF (or TLS close_notify).
struct StreamEnd {
  bool clean = true;
  std::string reason;      // for the log, e.g. "connection reset by peer"
};

class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // Data is only valid during the call.
  virtual void on_data(std::string_view data) = 0;
  // The stream is over; no more on_data. The transport stays usable for destroying.
  virtual void on_end(const StreamEnd& end) = 0;
  // The write queue fell to the low watermark after passing the high one.
  virtual void on_drained() {}
};

// Flow control: above `high` queued octets the writer should stop producing.
struct Watermarks {
  size_t high = 256 * 1024;
  size_t low = 64 * 1024;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual void set_handler(TransportHandler* handler) = 0;
  virtual void start_reading() = 0;
  virtual void stop_reading() = 0;

  virtual void write(std::string_view data) = 0;
  virtual size_t queued_bytes() const = 0;     // accepted by write() but not yet sent
  bool over_high_watermark() const { return queued_bytes() > watermarks().high; }
  virtual const Watermarks& watermarks() const = 0;

  // Flush, then close; the handler is detached at once. The Transport object may be
  // destroyed right after: the connection finishes closing on its own (bounded by a linger timeout).
  virtual void end() = 0;

  virtual const PeerInfo& peer() const = 0;
  virtual bool secure() const = 0;   // TLS is active on this stream
};

using TransportPtr = std::unique_ptr<Transport>;

}  // namespace popgate::io
