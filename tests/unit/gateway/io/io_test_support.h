// Helpers for the gateway/io tests: run a loop until a condition holds, a recording
// handler, and a connected pair of transports on 127.0.0.1.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/io/loop.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/tcp_connector.h"
#include "gateway/io/tcp_listener.h"
#include "gateway/io/timer.h"
#include "gateway/io/transport.h"

namespace popgate::io::testing {

// Runs `loop` until `done()` holds or `timeout_ms` passes; returns done().
inline bool run_until(Loop& loop, const std::function<bool()>& done, uint64_t timeout_ms = 10'000) {
  bool expired = false;
  Timer guard(loop);
  guard.start(timeout_ms, [&] { expired = true; });
  while (!done() && !expired) uv_run(loop.raw(), UV_RUN_ONCE);
  return done();
}

// Runs `loop` for `ms` milliseconds of loop time.
inline void run_for(Loop& loop, uint64_t ms) {
  bool expired = false;
  Timer guard(loop);
  guard.start(ms, [&] { expired = true; });
  while (!expired) uv_run(loop.raw(), UV_RUN_ONCE);
}

struct RecordingHandler : TransportHandler {
  void on_data(std::string_view bytes) override {
    data.append(bytes);
    if (on_data_hook) on_data_hook(bytes);
  }
  void on_end(const StreamEnd& stream_end) override {
    ++ends;
    end = stream_end;
    if (on_end_hook) on_end_hook(stream_end);
  }
  void on_drained() override {
    ++drained;
    if (on_drained_hook) on_drained_hook();
  }

  std::string data;
  int ends = 0;
  StreamEnd end;
  int drained = 0;
  std::function<void(std::string_view)> on_data_hook;
  std::function<void(const StreamEnd&)> on_end_hook;
  std::function<void()> on_drained_hook;
};

inline SocketAddress loopback_address(const char* host = "127.0.0.1", uint16_t port = 0) {
  std::optional<SocketAddress> address = SocketAddress::from_numeric({host, port});
  EXPECT_TRUE(address.has_value());
  return address.value_or(SocketAddress{});
}

inline std::unique_ptr<TcpListener> listen_on(Loop& loop, const SocketAddress& address,
                                              TcpListener::AcceptFn on_accept,
                                              TcpListener::Options options = {}) {
  Result<std::unique_ptr<TcpListener>> result =
      TcpListener::listen(loop, address, std::move(options), std::move(on_accept));
  if (!result.ok()) {
    ADD_FAILURE() << "listen " << address.to_string() << ": " << result.error().detail;
    return nullptr;
  }
  return std::move(result).value();
}

// A server transport (accepted by a TcpListener) and a client one (from connect_tcp).
struct ConnectedPair {
  TransportPtr server;
  TransportPtr client;
};

inline ConnectedPair connect_pair(Loop& loop, Watermarks watermarks = {}, const char* host = "127.0.0.1") {
  ConnectedPair pair;
  std::unique_ptr<TcpListener> listener = listen_on(
      loop, loopback_address(host), [&](TransportPtr accepted) { pair.server = std::move(accepted); },
      {.watermarks = watermarks});
  if (!listener) return pair;
  ConnectOperationPtr operation = connect_tcp(
      loop, host, listener->local_address().port(), 5'000,
      [&](Result<TransportPtr> result) {
        if (!result.ok()) {
          ADD_FAILURE() << "connect: " << result.error().detail;
          return;
        }
        pair.client = std::move(result).value();
      },
      watermarks);
  EXPECT_TRUE(run_until(loop, [&] { return pair.server && pair.client; }));
  return pair;
}

}  // namespace popgate::io::testing
