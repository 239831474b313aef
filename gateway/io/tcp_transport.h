// TcpTransport: the Transport over a uv_tcp_t.
#pragma once

#include <uv.h>

#include "gateway/io/loop.h"
#include "gateway/io/transport.h"

namespace popgate::io {

class TcpTransport final : public Transport {
 public:
  // Takes over a connected (or accepted) handle allocated with new; the transport frees it.
  static std::unique_ptr<TcpTransport> adopt(Loop& loop, uv_tcp_t* connected, Watermarks watermarks = {});
  ~TcpTransport() override;

  void set_handler(TransportHandler* handler) override;
  void start_reading() override;
  void stop_reading() override;
  void write(std::string_view data) override;
  size_t queued_bytes() const override;
  const Watermarks& watermarks() const override;
  void end() override;
  const PeerInfo& peer() const override;
  bool secure() const override { return false; }

  struct Socket;  // the handle and everything that must outlive this object while closing

 private:
  explicit TcpTransport(Socket* socket) : socket_(socket) {}
  Socket* socket_;
};

}  // namespace popgate::io
