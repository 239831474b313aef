// TcpListener on 127.0.0.1: bound port, address in use, SO_REUSEPORT, close().
#include "gateway/io/tcp_listener.h"

#include <gtest/gtest.h>

#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::io {
namespace {

using testing::listen_on;
using testing::loopback_address;
using testing::run_until;

TEST(TcpListener, ReportsTheBoundPort) {
  Loop loop;
  std::unique_ptr<TcpListener> listener = listen_on(loop, loopback_address(), [](TransportPtr) {});
  ASSERT_TRUE(listener);
  SocketAddress bound = listener->local_address();
  EXPECT_NE(bound.port(), 0);
  EXPECT_EQ(bound.to_string(), "127.0.0.1:" + std::to_string(bound.port()));
  listener->close();
  EXPECT_EQ(listener->local_address().port(), bound.port());
}

TEST(TcpListener, AddressInUseIsATemporaryErrorWithTheAddress) {
  Loop loop;
  std::unique_ptr<TcpListener> first = listen_on(loop, loopback_address(), [](TransportPtr) {});
  ASSERT_TRUE(first);
  uint16_t port = first->local_address().port();
  Result<std::unique_ptr<TcpListener>> second =
      TcpListener::listen(loop, loopback_address("127.0.0.1", port), {}, [](TransportPtr) {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::Temporary);
  EXPECT_EQ(second.error().detail, "bind 127.0.0.1:" + std::to_string(port) + ": address already in use");
}

TEST(TcpListener, ForeignAddressIsAPermanentError) {
  Loop loop;
  // 192.0.2.0/24 is TEST-NET-1: never an address of this host.
  Result<std::unique_ptr<TcpListener>> listener =
      TcpListener::listen(loop, loopback_address("192.0.2.1", 0), {}, [](TransportPtr) {});
  ASSERT_FALSE(listener.ok());
  EXPECT_EQ(listener.error().kind, ErrorKind::Permanent);
  EXPECT_EQ(listener.error().detail.rfind("bind 192.0.2.1:0: ", 0), 0u) << listener.error().detail;
}

TEST(TcpListener, ReusePortLetsTwoListenersShareAPort) {
  Loop loop;
  int accepted = 0;
  auto count = [&](TransportPtr) { ++accepted; };
  std::unique_ptr<TcpListener> first = listen_on(loop, loopback_address(), count, {.reuse_port = true});
  ASSERT_TRUE(first);
  uint16_t port = first->local_address().port();
  std::unique_ptr<TcpListener> second =
      listen_on(loop, loopback_address("127.0.0.1", port), count, {.reuse_port = true});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->local_address().port(), port);

  // Without the option on the newcomer, the port stays taken.
  Result<std::unique_ptr<TcpListener>> third =
      TcpListener::listen(loop, loopback_address("127.0.0.1", port), {}, [](TransportPtr) {});
  EXPECT_FALSE(third.ok());

  // Connections are spread over both; after one closes, the other still accepts.
  std::vector<ConnectOperationPtr> ops;
  int connected = 0;
  for (int i = 0; i < 8; ++i) {
    ops.push_back(connect_tcp(loop, "127.0.0.1", port, 5'000, [&](Result<TransportPtr> r) {
      EXPECT_TRUE(r.ok());
      ++connected;
    }));
  }
  EXPECT_TRUE(run_until(loop, [&] { return accepted == 8 && connected == 8; }));
}

TEST(TcpListener, ReusePortOnlyOnTheFirstListenerStillConflicts) {
  Loop loop;
  std::unique_ptr<TcpListener> first = listen_on(loop, loopback_address(), [](TransportPtr) {});
  ASSERT_TRUE(first);
  Result<std::unique_ptr<TcpListener>> second =
      TcpListener::listen(loop, loopback_address("127.0.0.1", first->local_address().port()),
                          {.reuse_port = true}, [](TransportPtr) {});
  EXPECT_FALSE(second.ok());
}

TEST(TcpListener, CloseStopsAcceptingButKeepsExistingConnections) {
  Loop loop;
  testing::ConnectedPair pair;
  std::unique_ptr<TcpListener> listener =
      listen_on(loop, loopback_address(), [&](TransportPtr t) { pair.server = std::move(t); });
  ASSERT_TRUE(listener);
  uint16_t port = listener->local_address().port();
  ConnectOperationPtr op = connect_tcp(loop, "127.0.0.1", port, 5'000, [&](Result<TransportPtr> r) {
    ASSERT_TRUE(r.ok());
    pair.client = std::move(r).value();
  });
  ASSERT_TRUE(run_until(loop, [&] { return pair.server && pair.client; }));

  listener->close();
  listener->close();  // idempotent

  std::optional<Error> error;
  op = connect_tcp(loop, "127.0.0.1", port, 5'000, [&](Result<TransportPtr> r) {
    ASSERT_FALSE(r.ok());
    error = r.error();
  });
  EXPECT_TRUE(run_until(loop, [&] { return error.has_value(); }));
  EXPECT_NE(error->detail.find("connection refused"), std::string::npos) << error->detail;

  testing::RecordingHandler client;
  pair.client->set_handler(&client);
  pair.client->start_reading();
  pair.server->write("+OK still here\r\n");
  EXPECT_TRUE(run_until(loop, [&] { return client.data == "+OK still here\r\n"; }));
}

TEST(TcpListener, AcceptCallbackMayDestroyTheListener) {
  Loop loop;
  std::unique_ptr<TcpListener> listener;
  TransportPtr server;
  listener = listen_on(loop, loopback_address(), [&](TransportPtr t) {
    server = std::move(t);
    listener.reset();
  });
  ASSERT_TRUE(listener);
  ConnectOperationPtr op =
      connect_tcp(loop, "127.0.0.1", listener->local_address().port(), 5'000, [](Result<TransportPtr>) {});
  EXPECT_TRUE(run_until(loop, [&] { return listener == nullptr; }));
  EXPECT_TRUE(server);
}

}  // namespace
}  // namespace popgate::io
