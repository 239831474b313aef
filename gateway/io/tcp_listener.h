// TcpListener: a listening socket that hands each accepted connection to a callback.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "gateway/io/loop.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/transport.h"
#include "protocol/common/result.h"

namespace popgate::io {

class TcpListener {
 public:
  using AcceptFn = std::function<void(TransportPtr)>;

  struct Options {
    int backlog = 511;
    bool reuse_port = false;  // SO_REUSEPORT, for one listener per worker loop
    // With reuse_port and a group of this many listeners (> 1): the kernel picks the listener
    // by the client's address alone instead of the whole 4-tuple, so a client always reaches
    // the same loop (and the upstream sessions parked there). 0: the kernel's 4-tuple hash.
    unsigned steer_by_client_address = 0;
    Watermarks watermarks;  // for the accepted transports
  };

  // Binds and listens. Failure (address in use, permission) is an Error with the reason.
  static Result<std::unique_ptr<TcpListener>> listen(Loop& loop, const SocketAddress& address,
                                                     Options options, AcceptFn on_accept);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  // The bound address (with the real port when 0 was asked for).
  SocketAddress local_address() const;
  // Stop accepting; existing connections are not affected.
  void close();

 private:
  TcpListener(Loop& loop, Options options, AcceptFn on_accept);
  static void on_connection(uv_stream_t* server, int status);

  Loop& loop_;
  Options options_;
  AcceptFn on_accept_;
  uv_tcp_t* handle_ = nullptr;  // freed in its close callback
  SocketAddress local_;         // remembered: still answers after close()
};

}  // namespace popgate::io
