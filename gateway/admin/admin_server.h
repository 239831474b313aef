// AdminServer: the admin HTTP endpoint (/metrics, /healthz, /readyz) on the service's loop.
//
// HTTP/1.1 with keep-alive and pipelining, GET and HEAD only. Malformed input gets a 400 and
// the connection is closed; the listener goes on serving others. Every connection has an
// idle timeout, every request a size limit, and the number of connections a cap, so the
// endpoint survives garbage and slow clients without touching the POP3 sessions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "gateway/admin/metrics.h"
#include "gateway/io/http_request_parser.h"
#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/tcp_listener.h"
#include "protocol/common/result.h"

namespace popgate {

class AdminServer;
using AdminServerPtr = std::unique_ptr<AdminServer>;

class AdminServer {
 public:
  struct Options {
    uint64_t idle_timeout_ms = 30'000;  // a connection with no request for this long is closed
    size_t max_connections = 64;        // more are answered 503 and closed
    io::HttpRequestLimits limits;       // 8 KiB per request
  };
  // /readyz: true when popgate should get traffic (listeners up, upstream reachable, not draining).
  using ReadyFn = std::function<bool()>;

  // Binds `address` (numeric; port 0 picks a free one) and serves until destroyed.
  static Result<AdminServerPtr> start(io::Loop& loop, const io::SocketAddress& address,
                                      const Metrics& metrics, ReadyFn ready, Options options);
  static Result<AdminServerPtr> start(io::Loop& loop, const io::SocketAddress& address,
                                      const Metrics& metrics, ReadyFn ready) {
    return start(loop, address, metrics, std::move(ready), Options{});
  }
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  io::SocketAddress local_address() const { return listener_->local_address(); }
  // Stops accepting and closes every connection once its queued answers are out, so the loop
  // can end. Destruction closes too, but aborts what is still queued.
  void close();
  size_t connections() const { return connections_.size(); }

 private:
  class Connection;
  AdminServer(io::Loop& loop, const Metrics& metrics, ReadyFn ready, Options options);
  void accept(io::TransportPtr transport);
  // The connection is over: destroy it on the next tick (it may be deep in its own callback).
  void remove(uint64_t id);

  io::Loop& loop_;
  const Metrics& metrics_;
  ReadyFn ready_;
  Options options_;
  std::unique_ptr<io::TcpListener> listener_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  io::Liveness alive_;
};

}  // namespace popgate
