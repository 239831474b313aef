// TcpTransport: reads, queued writes with watermarks, and a close that never leaks or
// calls back into a destroyed owner.
//
// Lifetime: the Socket holds the uv_tcp_t and a uv_timer_t and is freed when both close
// callbacks ran and the TcpTransport is gone. libuv runs every write and shutdown
// callback (with UV_ECANCELED if need be) before the stream's close callback, so those
// callbacks always find their Socket alive.
#include "gateway/io/tcp_transport.h"

#include <cstdlib>
#include <string>
#include <utility>

#include "gateway/io/socket_address.h"
#include "protocol/common/wipe.h"

namespace popgate::io {

namespace {

// How long end() waits for the peer to take the queued data and close its side.
constexpr uint64_t kLingerTimeoutMs = 10'000;

}  // namespace

struct TcpTransport::Socket final : Loop::Lingering {
  Socket(Loop& loop, uv_tcp_t* tcp, Watermarks watermarks) : loop(loop), tcp(tcp), watermarks(watermarks) {}

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(tcp); }
  void force_close() override { close_now(); }

  // Closes both handles; pending writes and the shutdown are cancelled. Idempotent.
  void close_now();
  // Frees this Socket once nothing refers to it any more.
  void release_if_unused();
  // Tells the handler the stream is over, at most once, and stops reading.
  void notify_end(StreamEnd end);
  // Delivers a failure found inside write() or start_reading() from the loop, so the
  // handler is never called back inside its own call into the transport.
  void fail_soon(int status);
  void start_lingering_read();

  Loop& loop;
  uv_tcp_t* tcp;                 // heap; freed in its close callback
  uv_timer_t timer{};            // fail_soon() before end(), the linger timeout after
  uv_shutdown_t shutdown_req{};  // in flight between end() and the close
  TransportHandler* handler = nullptr;
  Watermarks watermarks;
  PeerInfo peer;
  size_t queued = 0;  // bytes in write requests whose callback has not run
  int open_handles = 2;
  int pending_error = 0;      // for fail_soon()
  bool owner_alive = true;    // the TcpTransport exists
  bool reading = false;       // uv_read_start is in effect for the handler
  bool read_done = false;     // EOF or a read error was seen; never read again
  bool peer_closed = false;   // the peer's side is gone (EOF or error)
  bool end_notified = false;  // on_end was delivered (or the handler was detached)
  bool write_failed = false;  // a write failed: further writes are dropped
  bool above_high = false;    // queued passed watermarks.high; on_drained is owed
  bool ending = false;        // end() was called
  bool closing = false;       // uv_close was called on both handles
};

namespace {

using Socket = TcpTransport::Socket;

Socket* socket_of(uv_handle_t* handle) {
  return static_cast<Socket*>(handle->data);
}

void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  std::span<char> buffer = socket_of(handle)->loop.read_buffer();
  *buf = uv_buf_init(buffer.data(), static_cast<unsigned int>(buffer.size()));
}

std::string error_text(int status) {
  return uv_strerror(status);
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Socket* s = socket_of(reinterpret_cast<uv_handle_t*>(stream));
  if (nread == 0) return;  // EAGAIN: nothing this time, not EOF
  if (nread > 0) {
    // The handler may destroy the transport or end() it; nothing of either is touched
    // after this call (the Socket itself stays alive until the close callback).
    if (s->handler != nullptr && !s->ending) s->handler->on_data({buf->base, static_cast<size_t>(nread)});
    return;
  }
  s->peer_closed = true;
  s->notify_end(nread == UV_EOF ? StreamEnd{true, {}}
                                : StreamEnd{false, error_text(static_cast<int>(nread))});
}

// After end() has shut our side down: discard what the peer still sends until it
// closes, so closing never meets unread data, which would send an RST that can make
// the peer drop the last replies before reading them.
void on_lingering_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  if (nread >= 0) return;
  Socket* s = socket_of(reinterpret_cast<uv_handle_t*>(stream));
  s->peer_closed = true;
  s->close_now();
}

void on_tcp_closed(uv_handle_t* handle) {
  Socket* s = socket_of(handle);
  delete reinterpret_cast<uv_tcp_t*>(handle);
  s->tcp = nullptr;
  --s->open_handles;
  s->release_if_unused();
}

void on_timer_closed(uv_handle_t* handle) {
  Socket* s = socket_of(handle);
  --s->open_handles;
  s->release_if_unused();
}

struct WriteRequest {
  uv_write_t req{};
  Socket* socket = nullptr;
  std::string bytes;                // owned until the callback
  ~WriteRequest() { wipe(bytes); }  // it may hold a LOGIN command (protocol/common/wipe.h)
};

void on_write(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> request(static_cast<WriteRequest*>(req->data));
  Socket* s = request->socket;
  s->queued -= request->bytes.size();
  if (status == UV_ECANCELED || s->closing) return;  // closing: the close callback follows
  if (status < 0) {
    s->write_failed = true;
    s->notify_end({false, error_text(status)});
    return;
  }
  if (s->above_high && s->queued <= s->watermarks.low) {
    s->above_high = false;
    if (s->handler != nullptr && !s->ending) s->handler->on_drained();  // may destroy the owner
  }
}

void on_shutdown(uv_shutdown_t* req, int status) {
  Socket* s = static_cast<Socket*>(req->data);
  if (s->closing) return;
  if (status < 0 || s->peer_closed) {
    s->close_now();
    return;
  }
  s->start_lingering_read();
}

}  // namespace

void Socket::close_now() {
  if (closing) return;
  closing = true;
  reading = false;
  uv_close(reinterpret_cast<uv_handle_t*>(tcp), on_tcp_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_timer_closed);
}

void Socket::release_if_unused() {
  if (owner_alive || open_handles > 0) return;
  loop.remove_lingering(this);
  delete this;
}

void Socket::notify_end(StreamEnd end) {
  if (!read_done) {
    read_done = true;
    if (reading) uv_read_stop(stream());
    reading = false;
  }
  if (end_notified) return;
  end_notified = true;
  if (handler != nullptr && !ending) handler->on_end(end);  // may destroy the owner
}

void Socket::fail_soon(int status) {
  write_failed = true;
  if (ending || end_notified || pending_error != 0) return;
  pending_error = status;
  timer.data = this;
  uv_timer_start(
      &timer,
      [](uv_timer_t* handle) {
        Socket* s = socket_of(reinterpret_cast<uv_handle_t*>(handle));
        s->notify_end({false, error_text(s->pending_error)});
      },
      0, 0);
}

void Socket::start_lingering_read() {
  if (peer_closed || uv_read_start(stream(), on_alloc, on_lingering_read) != 0) close_now();
}

std::unique_ptr<TcpTransport> TcpTransport::adopt(Loop& loop, uv_tcp_t* connected, Watermarks watermarks) {
  auto* s = new Socket(loop, connected, watermarks);
  connected->data = s;
  if (uv_timer_init(loop.raw(), &s->timer) != 0) std::abort();  // cannot fail on a live loop
  s->timer.data = s;
  uv_tcp_nodelay(connected, 1);  // replies are small and go out whole; don't wait for ACKs
  sockaddr_storage storage{};
  int length = sizeof(storage);
  if (uv_tcp_getpeername(connected, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
    SocketAddress address = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&storage));
    s->peer = {address.host(), address.port(), address.is_loopback()};
  }
  return std::unique_ptr<TcpTransport>(new TcpTransport(s));
}

TcpTransport::~TcpTransport() {
  Socket* s = socket_;
  s->handler = nullptr;
  s->owner_alive = false;
  if (!s->ending) s->close_now();  // abort: queued writes are cancelled
  if (s->open_handles > 0) s->loop.add_lingering(s);
  s->release_if_unused();
}

void TcpTransport::set_handler(TransportHandler* handler) {
  if (!socket_->ending) socket_->handler = handler;
}

void TcpTransport::start_reading() {
  Socket* s = socket_;
  if (s->reading || s->read_done || s->ending || s->closing) return;
  int status = uv_read_start(s->stream(), on_alloc, on_read);
  if (status != 0) {
    s->peer_closed = true;
    s->fail_soon(status);
    return;
  }
  s->reading = true;
}

void TcpTransport::stop_reading() {
  Socket* s = socket_;
  if (!s->reading) return;
  uv_read_stop(s->stream());
  s->reading = false;
}

void TcpTransport::write(std::string_view data) {
  Socket* s = socket_;
  if (data.empty() || s->ending || s->closing || s->write_failed) return;
  if (s->queued == 0) {
    // Nothing queued, so nothing can be reordered: send what the kernel takes now.
    uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned int>(data.size()));
    int sent = uv_try_write(s->stream(), &buf, 1);
    if (sent < 0 && sent != UV_EAGAIN) {
      s->fail_soon(sent);
      return;
    }
    if (sent > 0) data.remove_prefix(static_cast<size_t>(sent));
    if (data.empty()) return;
  }
  auto request = std::make_unique<WriteRequest>();
  request->socket = s;
  request->bytes.assign(data);
  request->req.data = request.get();
  uv_buf_t buf = uv_buf_init(request->bytes.data(), static_cast<unsigned int>(request->bytes.size()));
  int status = uv_write(&request->req, s->stream(), &buf, 1, on_write);
  if (status != 0) {  // the callback will not run
    s->fail_soon(status);
    return;
  }
  s->queued += request->bytes.size();
  request.release();  // owned by libuv until on_write
  if (s->queued > s->watermarks.high) s->above_high = true;
}

size_t TcpTransport::queued_bytes() const {
  return socket_->queued;
}

const Watermarks& TcpTransport::watermarks() const {
  return socket_->watermarks;
}

const PeerInfo& TcpTransport::peer() const {
  return socket_->peer;
}

void TcpTransport::end() {
  Socket* s = socket_;
  if (s->ending) return;
  s->ending = true;
  s->handler = nullptr;
  s->end_notified = true;
  if (s->reading) uv_read_stop(s->stream());
  s->reading = false;
  if (s->closing) return;
  if (s->write_failed) {
    s->close_now();
    return;
  }
  // The shutdown waits for the queued writes; the timer bounds how long that may take.
  s->shutdown_req.data = s;
  if (uv_shutdown(&s->shutdown_req, s->stream(), on_shutdown) != 0) {
    s->close_now();
    return;
  }
  uv_timer_start(
      &s->timer, [](uv_timer_t* handle) { socket_of(reinterpret_cast<uv_handle_t*>(handle))->close_now(); },
      kLingerTimeoutMs, 0);
}

}  // namespace popgate::io
