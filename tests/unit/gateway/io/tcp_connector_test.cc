// connect_tcp on 127.0.0.1: success by number and by name, refused, timed out, and
// cancellation at every stage (no callback once the operation is destroyed).
#include "gateway/io/tcp_connector.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::io {
namespace {

using testing::listen_on;
using testing::loopback_address;
using testing::run_until;

// A port on 127.0.0.1 that nothing listens on (it was bound a moment ago).
uint16_t closed_port(Loop& loop) {
  std::unique_ptr<TcpListener> listener = listen_on(loop, loopback_address(), [](TransportPtr) {});
  uint16_t port = listener ? listener->local_address().port() : 0;
  listener.reset();
  loop.run();  // let the close finish
  return port;
}

struct Outcome {
  int calls = 0;
  std::optional<Error> error;
  TransportPtr transport;
  ConnectDone callback() {
    return [this](Result<TransportPtr> result) {
      ++calls;
      if (result.ok()) {
        transport = std::move(result).value();
      } else {
        error = result.error();
      }
    };
  }
};

TEST(ConnectTcp, ConnectsToANumericAddress) {
  Loop loop;
  int accepted = 0;
  std::unique_ptr<TcpListener> listener =
      listen_on(loop, loopback_address(), [&](TransportPtr) { ++accepted; });
  ASSERT_TRUE(listener);
  Outcome outcome;
  ConnectOperationPtr op =
      connect_tcp(loop, "127.0.0.1", listener->local_address().port(), 5'000, outcome.callback());
  EXPECT_EQ(outcome.calls, 0);  // never inside connect_tcp
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0 && accepted > 0; }));
  EXPECT_EQ(outcome.calls, 1);
  ASSERT_TRUE(outcome.transport) << (outcome.error ? outcome.error->detail : "");
  EXPECT_EQ(outcome.transport->peer().port, listener->local_address().port());
}

TEST(ConnectTcp, ResolvesLocalhostAndTriesEachAddress) {
  Loop loop;
  int accepted = 0;
  // Only 127.0.0.1 listens: if "localhost" also gives ::1, that attempt is refused first.
  std::unique_ptr<TcpListener> listener =
      listen_on(loop, loopback_address(), [&](TransportPtr) { ++accepted; });
  ASSERT_TRUE(listener);
  Outcome outcome;
  ConnectOperationPtr op =
      connect_tcp(loop, "localhost", listener->local_address().port(), 5'000, outcome.callback());
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.transport) << (outcome.error ? outcome.error->detail : "");
  EXPECT_EQ(outcome.transport->peer().address, "127.0.0.1");
  EXPECT_TRUE(run_until(loop, [&] { return accepted == 1; }));
}

TEST(ConnectTcp, RefusedIsATemporaryError) {
  Loop loop;
  uint16_t port = closed_port(loop);
  ASSERT_NE(port, 0);
  Outcome outcome;
  ConnectOperationPtr op = connect_tcp(loop, "127.0.0.1", port, 5'000, outcome.callback());
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->kind, ErrorKind::Temporary);
  EXPECT_EQ(outcome.error->detail, "connect 127.0.0.1:" + std::to_string(port) + ": connection refused");
  loop.run();
  EXPECT_EQ(outcome.calls, 1);
}

TEST(ConnectTcp, UnresolvableNameIsATemporaryErrorReportedLater) {
  Loop loop;
  Outcome outcome;
  // Rejected before any lookup (not a valid host name), so no DNS server is involved.
  ConnectOperationPtr op = connect_tcp(loop, "bad\xff\xfe.host", 143, 5'000, outcome.callback());
  EXPECT_EQ(outcome.calls, 0);
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->kind, ErrorKind::Temporary);
  EXPECT_EQ(outcome.error->detail.rfind("resolve bad", 0), 0u) << outcome.error->detail;
}

// A listening socket that never accepts, with backlog 0: once its queue holds one
// connection the kernel drops further SYNs, so a connect can only time out.
TEST(ConnectTcp, TimesOutAgainstAFullBacklog) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 0), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  uint16_t port = ntohs(address.sin_port);

  Loop loop;
  std::vector<std::unique_ptr<Outcome>> outcomes;
  std::vector<ConnectOperationPtr> ops;
  std::optional<Error> timed_out;
  for (int i = 0; i < 16 && !timed_out; ++i) {
    outcomes.push_back(std::make_unique<Outcome>());
    Outcome& outcome = *outcomes.back();
    ops.push_back(connect_tcp(loop, "127.0.0.1", port, 300, outcome.callback()));
    EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
    if (outcome.error) timed_out = outcome.error;
  }
  ::close(fd);
  ASSERT_TRUE(timed_out) << "the backlog never filled";
  EXPECT_EQ(timed_out->kind, ErrorKind::Temporary);
  EXPECT_EQ(timed_out->detail, "connect 127.0.0.1:" + std::to_string(port) + ": timed out");
}

TEST(ConnectTcp, DestroyedRightAwayNeverCallsBack) {
  Loop loop;
  std::unique_ptr<TcpListener> listener = listen_on(loop, loopback_address(), [](TransportPtr) {});
  ASSERT_TRUE(listener);
  uint16_t port = listener->local_address().port();
  auto token = std::make_shared<int>(0);
  bool called = false;
  for (const char* host : {"127.0.0.1", "localhost"}) {
    ConnectOperationPtr op =
        connect_tcp(loop, host, port, 5'000, [&called, token](Result<TransportPtr>) { called = true; });
    op.reset();
    EXPECT_EQ(token.use_count(), 1);  // the callback is released with the operation
  }
  listener.reset();
  loop.run();  // returns once the lookups finished on the threadpool
  EXPECT_FALSE(called);
}

// Cancels after 0, 1, 2... loop iterations so that every stage is hit: during the
// lookup, while connecting, and after libuv completed but before the callback ran.
TEST(ConnectTcp, DestroyedAtAnyStageNeverCallsBack) {
  for (const char* host : {"localhost", "127.0.0.1"}) {
    Loop loop;
    std::unique_ptr<TcpListener> listener = listen_on(loop, loopback_address(), [](TransportPtr) {});
    ASSERT_TRUE(listener);
    uint16_t port = listener->local_address().port();
    int cancelled_early = 0;
    for (int iterations = 0; iterations < 12; ++iterations) {
      bool called = false;
      ConnectOperationPtr op =
          connect_tcp(loop, host, port, 5'000, [&called](Result<TransportPtr>) { called = true; });
      for (int i = 0; i < iterations && !called; ++i) uv_run(loop.raw(), UV_RUN_NOWAIT);
      if (!called) ++cancelled_early;
      op.reset();
      called = false;  // it may have completed already; it must not run again
      testing::run_for(loop, 5);
      EXPECT_FALSE(called) << host << " after " << iterations << " iterations";
    }
    EXPECT_GT(cancelled_early, 0);
    listener.reset();
    loop.run();
  }
}

TEST(ConnectTcp, CallbackMayDestroyTheOperation) {
  Loop loop;
  uint16_t port = closed_port(loop);
  ConnectOperationPtr op;
  int calls = 0;
  op = connect_tcp(loop, "127.0.0.1", port, 5'000, [&](Result<TransportPtr> result) {
    ++calls;
    EXPECT_FALSE(result.ok());
    op.reset();
  });
  EXPECT_TRUE(run_until(loop, [&] { return calls > 0; }));
  loop.run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(op, nullptr);
}

TEST(ConnectTcp, ConnectsToIpv6Loopback) {
  Loop loop;
  std::optional<SocketAddress> address = SocketAddress::from_numeric({"::1", 0});
  ASSERT_TRUE(address);
  Result<std::unique_ptr<TcpListener>> listener =
      TcpListener::listen(loop, *address, {}, [](TransportPtr) {});
  if (!listener.ok()) GTEST_SKIP() << "no IPv6 loopback: " << listener.error().detail;
  Outcome outcome;
  ConnectOperationPtr op =
      connect_tcp(loop, "::1", listener.value()->local_address().port(), 5'000, outcome.callback());
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.transport) << (outcome.error ? outcome.error->detail : "");
  EXPECT_EQ(outcome.transport->peer().address, "::1");
  EXPECT_TRUE(outcome.transport->peer().loopback);
}

}  // namespace
}  // namespace popgate::io
