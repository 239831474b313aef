// connect_tcp: uv_getaddrinfo, then each address in turn, all under one timeout.
//
// Everything libuv may still call back into lives in a heap ConnectState that outlives
// the ConnectOperation: a getaddrinfo already running on the threadpool cannot be
// cancelled, and a connecting handle reports UV_ECANCELED when closed. The state is
// freed once its owner is gone and libuv holds nothing of it.
#include "gateway/io/tcp_connector.h"

#include <netdb.h>

#include <cstdlib>
#include <utility>

#include "gateway/io/socket_address.h"
#include "gateway/io/tcp_transport.h"

namespace popgate::io {

namespace {

struct ConnectState {
  ConnectState(Loop& loop, std::string host, uint16_t port, ConnectDone done, Watermarks watermarks)
      : loop(loop), host(std::move(host)), port(port), done(std::move(done)), watermarks(watermarks) {}

  void start(uint64_t timeout_ms);
  void on_resolved(int status, addrinfo* result);
  void try_next_address();
  void on_connected(int status);
  // Delivers the result (at most once) and releases every libuv resource.
  void finish(Result<TransportPtr> result);
  // The owner is gone: no callback, ever. Releases what can be released now.
  void cancel();
  void stop_everything();
  void close_connecting_handle();
  void release_if_unused();
  std::string name() const;  // "mail.example:143", "[::1]:143"

  Loop& loop;
  std::string host;
  uint16_t port;
  ConnectDone done;
  Watermarks watermarks;

  uv_getaddrinfo_t resolve_req{};
  uv_timer_t timer{};
  uv_connect_t connect_req{};
  uv_tcp_t* tcp = nullptr;  // the handle connecting now; freed in its close callback
  addrinfo* addresses = nullptr;
  addrinfo* next_address = nullptr;
  Error pending_error;     // for a failure found synchronously, delivered by the timer
  std::string last_error;  // why the last address failed

  int libuv_refs = 0;  // resolve in flight, timer open, connecting handles not yet closed
  bool owner_alive = true;
  bool finished = false;
  bool in_callback = false;  // `done` is running and may destroy the owner
};

class TcpConnectOperation final : public ConnectOperation {
 public:
  explicit TcpConnectOperation(ConnectState* state) : state_(state) {}
  ~TcpConnectOperation() override { state_->cancel(); }

 private:
  ConnectState* state_;
};

ConnectState* state_of(uv_handle_t* handle) {
  return static_cast<ConnectState*>(handle->data);
}

void on_timer_closed(uv_handle_t* handle) {
  ConnectState* s = state_of(handle);
  --s->libuv_refs;
  s->release_if_unused();
}

void on_tcp_closed(uv_handle_t* handle) {
  ConnectState* s = state_of(handle);
  delete reinterpret_cast<uv_tcp_t*>(handle);
  --s->libuv_refs;
  s->release_if_unused();
}

std::string resolve_error_text(int status) {
  if (status == UV_EAI_NONAME || status == UV_EAI_NODATA) return "name not resolved";
  return uv_strerror(status);
}

}  // namespace

std::string ConnectState::name() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

void ConnectState::start(uint64_t timeout_ms) {
  if (uv_timer_init(loop.raw(), &timer) != 0) std::abort();  // cannot fail on a live loop
  timer.data = this;
  ++libuv_refs;
  if (timeout_ms > 0) {
    uv_timer_start(
        &timer,
        [](uv_timer_t* handle) {
          ConnectState* s = state_of(reinterpret_cast<uv_handle_t*>(handle));
          s->finish(make_error(ErrorKind::Temporary, "connect " + s->name() + ": timed out"));
        },
        timeout_ms, 0);
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;  // no AI_ADDRCONFIG: it hides "localhost" on loopback-only hosts
  resolve_req.data = this;
  std::string service = std::to_string(port);
  int status = uv_getaddrinfo(
      loop.raw(), &resolve_req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
        static_cast<ConnectState*>(req->data)->on_resolved(status, result);
      },
      host.c_str(), service.c_str(), &hints);
  if (status == 0) {
    ++libuv_refs;
    return;
  }
  // Never call back inside connect_tcp: report from the timer on the next iteration.
  pending_error = make_error(ErrorKind::Temporary, "resolve " + host + ": " + resolve_error_text(status));
  uv_timer_start(
      &timer,
      [](uv_timer_t* handle) {
        ConnectState* s = state_of(reinterpret_cast<uv_handle_t*>(handle));
        s->finish(s->pending_error);
      },
      0, 0);
}

void ConnectState::on_resolved(int status, addrinfo* result) {
  --libuv_refs;
  if (finished) {  // cancelled or timed out meanwhile (status may be UV_EAI_CANCELED)
    uv_freeaddrinfo(result);
    release_if_unused();
    return;
  }
  if (status != 0) {
    uv_freeaddrinfo(result);
    finish(make_error(ErrorKind::Temporary, "resolve " + host + ": " + resolve_error_text(status)));
    return;
  }
  addresses = result;
  next_address = result;
  try_next_address();
}

void ConnectState::try_next_address() {
  while (next_address != nullptr) {
    addrinfo* candidate = next_address;
    next_address = candidate->ai_next;
    if (candidate->ai_family != AF_INET && candidate->ai_family != AF_INET6) continue;
    std::string target = SocketAddress::from_sockaddr(candidate->ai_addr).to_string();
    tcp = new uv_tcp_t;
    if (uv_tcp_init(loop.raw(), tcp) != 0) std::abort();  // AF_UNSPEC: allocates nothing
    tcp->data = this;
    ++libuv_refs;
    connect_req.data = this;
    int status = uv_tcp_connect(&connect_req, tcp, candidate->ai_addr, [](uv_connect_t* req, int status) {
      static_cast<ConnectState*>(req->data)->on_connected(status);
    });
    if (status == 0) {
      last_error = "connect " + target + ": ";  // completed by on_connected on failure
      return;
    }
    last_error = "connect " + target + ": " + uv_strerror(status);
    close_connecting_handle();  // e.g. no IPv6 route: try the next address
  }
  if (last_error.empty()) last_error = "resolve " + host + ": no usable address";
  finish(make_error(ErrorKind::Temporary, last_error));
}

void ConnectState::on_connected(int status) {
  // Closing the handle (cancel, timeout) runs this with UV_ECANCELED; its close
  // callback, which follows, does the accounting.
  if (finished) return;
  if (status != 0) {
    last_error += uv_strerror(status);
    close_connecting_handle();
    try_next_address();
    return;
  }
  uv_tcp_t* connected = tcp;
  tcp = nullptr;
  --libuv_refs;  // the transport owns the handle from here on
  connected->data = nullptr;
  finish(TransportPtr(TcpTransport::adopt(loop, connected, watermarks)));
}

void ConnectState::close_connecting_handle() {
  if (tcp == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(tcp), on_tcp_closed);
  tcp = nullptr;
}

void ConnectState::stop_everything() {
  finished = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_timer_closed);
  close_connecting_handle();
  // Fails if the lookup already runs on the threadpool; on_resolved then finds `finished`.
  uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req));
  if (addresses != nullptr) uv_freeaddrinfo(addresses);
  addresses = next_address = nullptr;
}

void ConnectState::finish(Result<TransportPtr> result) {
  if (finished) return;
  stop_everything();
  ConnectDone callback = std::move(done);
  done = nullptr;
  in_callback = true;
  if (callback) callback(std::move(result));  // may destroy the ConnectOperation
  in_callback = false;
  release_if_unused();
}

void ConnectState::cancel() {
  owner_alive = false;
  if (!finished) {
    stop_everything();
    ConnectDone dropped = std::move(done);  // its captures die now, uncalled
    done = nullptr;
  }
  release_if_unused();
}

void ConnectState::release_if_unused() {
  if (owner_alive || in_callback || libuv_refs > 0) return;
  delete this;
}

ConnectOperationPtr connect_tcp(Loop& loop, std::string host, uint16_t port, uint64_t timeout_ms,
                                ConnectDone done, Watermarks watermarks) {
  auto* state = new ConnectState(loop, std::move(host), port, std::move(done), watermarks);
  auto operation = std::make_unique<TcpConnectOperation>(state);
  state->start(timeout_ms);
  return operation;
}

}  // namespace popgate::io
