// TcpTransport on 127.0.0.1: echo, watermarks under a pausing reader, end() flushing,
// and owners destroyed from inside their own callbacks.
#include "gateway/io/tcp_transport.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::io {
namespace {

using testing::connect_pair;
using testing::ConnectedPair;
using testing::RecordingHandler;
using testing::run_for;
using testing::run_until;

char pattern_byte(size_t offset) {
  return static_cast<char>('a' + offset % 23);
}

std::string pattern(size_t offset, size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(offset + i);
  return bytes;
}

TEST(TcpTransport, EchoesBetweenAcceptedAndConnectedTransports) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);

  RecordingHandler server;
  server.on_data_hook = [&](std::string_view bytes) { pair.server->write(bytes); };
  pair.server->set_handler(&server);
  pair.server->start_reading();
  RecordingHandler client;
  pair.client->set_handler(&client);
  pair.client->start_reading();

  pair.client->write("USER alice\r\n");
  pair.client->write("PASS ");
  pair.client->write("secret\r\n");
  const std::string expected = "USER alice\r\nPASS secret\r\n";
  EXPECT_TRUE(run_until(loop, [&] { return client.data.size() >= expected.size(); }));
  EXPECT_EQ(client.data, expected);
  EXPECT_EQ(server.data, expected);
  EXPECT_EQ(client.ends, 0);
  EXPECT_EQ(pair.client->queued_bytes(), 0u);
  EXPECT_FALSE(pair.client->secure());
}

TEST(TcpTransport, PeerInfoOnAcceptedAndConnectedSides) {
  Loop loop;
  uint16_t listen_port = 0;
  TransportPtr server;
  std::unique_ptr<TcpListener> listener = testing::listen_on(
      loop, testing::loopback_address(), [&](TransportPtr accepted) { server = std::move(accepted); });
  ASSERT_TRUE(listener);
  listen_port = listener->local_address().port();
  TransportPtr client;
  ConnectOperationPtr operation =
      connect_tcp(loop, "127.0.0.1", listen_port, 5'000, [&](Result<TransportPtr> r) {
        ASSERT_TRUE(r.ok());
        client = std::move(r).value();
      });
  ASSERT_TRUE(run_until(loop, [&] { return server && client; }));

  EXPECT_EQ(server->peer().address, "127.0.0.1");
  EXPECT_TRUE(server->peer().loopback);
  EXPECT_NE(server->peer().port, 0);
  EXPECT_NE(server->peer().port, listen_port);
  EXPECT_EQ(client->peer().address, "127.0.0.1");
  EXPECT_EQ(client->peer().port, listen_port);
  EXPECT_TRUE(client->peer().loopback);
}

TEST(TcpTransport, PeerInfoOnIpv6Loopback) {
  Loop loop;
  std::optional<SocketAddress> any6 = SocketAddress::from_numeric({"::1", 0});
  ASSERT_TRUE(any6);
  Result<std::unique_ptr<TcpListener>> probe = TcpListener::listen(loop, *any6, {}, [](TransportPtr) {});
  if (!probe.ok()) GTEST_SKIP() << "no IPv6 loopback: " << probe.error().detail;
  probe.value()->close();

  ConnectedPair pair = connect_pair(loop, {}, "::1");
  ASSERT_TRUE(pair.server && pair.client);
  EXPECT_EQ(pair.server->peer().address, "::1");
  EXPECT_TRUE(pair.server->peer().loopback);
  EXPECT_EQ(pair.client->peer().address, "::1");
}

// The writer fills the socket while the reader does not read, so write() queues past
// the high watermark; the reader then reads, pauses half-way, and resumes. on_drained
// must bring the writer back each time, and every byte must arrive in order.
TEST(TcpTransport, LargeTransferWithPausingReaderCrossesWatermarksAndDrains) {
  Loop loop;
  const Watermarks watermarks{.high = 256 * 1024, .low = 64 * 1024};
  ConnectedPair pair = connect_pair(loop, watermarks);
  ASSERT_TRUE(pair.server && pair.client);

  constexpr size_t kTotal = 32u << 20;
  constexpr size_t kChunk = 64u << 10;
  size_t sent = 0;
  size_t times_over_high = 0;
  size_t max_queued = 0;
  std::string chunk;
  auto pump = [&] {
    while (sent < kTotal && !pair.server->over_high_watermark()) {
      size_t size = std::min(kChunk, kTotal - sent);
      chunk = pattern(sent, size);
      pair.server->write(chunk);
      sent += size;
      max_queued = std::max(max_queued, pair.server->queued_bytes());
    }
    if (pair.server->over_high_watermark()) ++times_over_high;
  };
  RecordingHandler writer;
  writer.on_drained_hook = [&] {
    EXPECT_LE(pair.server->queued_bytes(), watermarks.low);
    pump();
  };
  pair.server->set_handler(&writer);

  size_t received = 0;
  bool in_order = true;
  bool paused = false;
  Timer resume(loop);
  struct Reader : TransportHandler {
    std::function<void(std::string_view)> data;
    void on_data(std::string_view bytes) override { data(bytes); }
    void on_end(const StreamEnd&) override { ADD_FAILURE() << "unexpected end"; }
  } reader;
  reader.data = [&](std::string_view bytes) {
    for (size_t i = 0; i < bytes.size() && in_order; ++i) in_order = bytes[i] == pattern_byte(received + i);
    received += bytes.size();
    if (!paused && received >= kTotal / 2) {
      paused = true;
      pair.client->stop_reading();
      resume.start(50, [&] { pair.client->start_reading(); });
    }
  };
  pair.client->set_handler(&reader);

  pump();  // the reader is not reading yet: the kernel buffers fill, then write() queues
  EXPECT_TRUE(pair.server->over_high_watermark());
  EXPECT_EQ(writer.drained, 0);
  resume.start(50, [&] { pair.client->start_reading(); });

  EXPECT_TRUE(run_until(
      loop, [&] { return received == kTotal && pair.server->queued_bytes() == 0; }, 60'000));
  EXPECT_EQ(received, kTotal);
  EXPECT_TRUE(in_order);
  EXPECT_TRUE(paused);
  EXPECT_GE(writer.drained, 1);
  EXPECT_GE(times_over_high, 2u);
  EXPECT_GT(max_queued, watermarks.high);
  EXPECT_LE(max_queued, watermarks.high + kChunk);
  EXPECT_FALSE(pair.server->over_high_watermark());
}

TEST(TcpTransport, EndFlushesQueuedDataBeforeThePeerSeesEof) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);

  constexpr size_t kTotal = 8u << 20;
  for (size_t sent = 0; sent < kTotal; sent += 256u << 10) pair.server->write(pattern(sent, 256u << 10));
  EXPECT_GT(pair.server->queued_bytes(), 0u);  // the client isn't reading: most of it is queued
  pair.server->end();
  pair.server.reset();  // allowed right after end(): the connection finishes on its own

  RecordingHandler client;
  size_t at_end = 0;
  client.on_end_hook = [&](const StreamEnd&) { at_end = client.data.size(); };
  pair.client->set_handler(&client);
  run_for(loop, 20);
  pair.client->start_reading();
  EXPECT_TRUE(run_until(
      loop, [&] { return client.ends > 0; }, 30'000));
  EXPECT_EQ(at_end, kTotal);
  EXPECT_TRUE(client.data == pattern(0, kTotal));
  EXPECT_TRUE(client.end.clean) << client.end.reason;
  EXPECT_EQ(client.ends, 1);
}

// Closing a socket with unread input sends an RST, which can make the peer discard
// replies it has not read yet. end() must read and discard instead.
TEST(TcpTransport, EndDeliversEverythingEvenWithUnreadInput) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);
  RecordingHandler server;
  pair.server->set_handler(&server);  // the server never reads
  pair.client->write(std::string(64u << 10, 'p'));
  EXPECT_TRUE(run_until(loop, [&] { return pair.client->queued_bytes() == 0; }));
  run_for(loop, 20);

  const std::string reply = pattern(0, 1u << 20);
  pair.server->write(reply);
  pair.server->end();
  pair.server.reset();

  RecordingHandler client;
  pair.client->set_handler(&client);
  pair.client->start_reading();
  EXPECT_TRUE(run_until(
      loop, [&] { return client.ends > 0; }, 30'000));
  EXPECT_EQ(client.data.size(), reply.size());
  EXPECT_TRUE(client.data == reply);
  EXPECT_TRUE(client.end.clean) << client.end.reason;
  EXPECT_TRUE(server.data.empty());
}

TEST(TcpTransport, HandlerIsNotCalledAfterEnd) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);
  RecordingHandler server;
  pair.server->set_handler(&server);
  pair.server->start_reading();
  pair.client->write("NOOP\r\n");
  ASSERT_TRUE(run_until(loop, [&] { return server.data == "NOOP\r\n"; }));
  pair.server->end();
  pair.client->write("STAT\r\n");
  RecordingHandler client;
  pair.client->set_handler(&client);
  pair.client->start_reading();
  EXPECT_TRUE(run_until(loop, [&] { return client.ends > 0; }));
  EXPECT_TRUE(client.end.clean);
  run_for(loop, 20);
  EXPECT_EQ(server.data, "NOOP\r\n");
  EXPECT_EQ(server.ends, 0);
  pair.server->start_reading();  // ignored after end()
  pair.server->write("late");    // dropped after end()
}

TEST(TcpTransport, OwnerDestroyedInsideOnData) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);
  int calls = 0;
  RecordingHandler server;
  server.on_data_hook = [&](std::string_view) {
    ++calls;
    pair.server->write("-ERR bye\r\n");  // queued or sent, then aborted with the transport
    pair.server.reset();
  };
  pair.server->set_handler(&server);
  pair.server->start_reading();
  // Several chunks in one read burst: nothing may be delivered after the reset.
  for (int i = 0; i < 64; ++i) pair.client->write(std::string(16u << 10, 'x'));

  RecordingHandler client;
  pair.client->set_handler(&client);
  pair.client->start_reading();
  EXPECT_TRUE(run_until(loop, [&] { return pair.server == nullptr && client.ends > 0; }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client.ends, 1);
}

TEST(TcpTransport, OwnerDestroyedInsideOnEnd) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);
  RecordingHandler server;
  server.on_end_hook = [&](const StreamEnd&) { pair.server.reset(); };
  pair.server->set_handler(&server);
  pair.server->start_reading();
  pair.client->write("QUIT\r\n");
  pair.client->end();
  pair.client.reset();
  EXPECT_TRUE(run_until(loop, [&] { return pair.server == nullptr; }));
  EXPECT_EQ(server.data, "QUIT\r\n");
  EXPECT_EQ(server.ends, 1);
  EXPECT_TRUE(server.end.clean);
}

TEST(TcpTransport, OwnerDestroyedInsideOnDrained) {
  Loop loop;
  const Watermarks watermarks{.high = 128 * 1024, .low = 16 * 1024};
  ConnectedPair pair = connect_pair(loop, watermarks);
  ASSERT_TRUE(pair.server && pair.client);
  RecordingHandler server;
  server.on_drained_hook = [&] { pair.server.reset(); };
  pair.server->set_handler(&server);
  while (!pair.server->over_high_watermark()) pair.server->write(std::string(64u << 10, 'd'));
  RecordingHandler client;
  pair.client->set_handler(&client);
  pair.client->start_reading();
  EXPECT_TRUE(run_until(
      loop, [&] { return pair.server == nullptr; }, 30'000));
  EXPECT_EQ(server.drained, 1);
}

TEST(TcpTransport, DestroyingWithQueuedWritesAborts) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);
  for (int i = 0; i < 64; ++i) pair.server->write(std::string(256u << 10, 'q'));
  ASSERT_GT(pair.server->queued_bytes(), 0u);
  pair.server.reset();  // pending writes are cancelled and their buffers freed
  RecordingHandler client;
  pair.client->set_handler(&client);
  pair.client->start_reading();
  EXPECT_TRUE(run_until(
      loop, [&] { return client.ends > 0; }, 30'000));
  EXPECT_LT(client.data.size(), 64u * (256u << 10));
  EXPECT_EQ(client.ends, 1);
}

TEST(TcpTransport, WriteToAClosedPeerEndsUncleanOnce) {
  Loop loop;
  ConnectedPair pair = connect_pair(loop);
  ASSERT_TRUE(pair.server && pair.client);
  pair.server.reset();
  RecordingHandler client;  // not reading: the failure must come from the writes
  pair.client->set_handler(&client);
  Timer writer(loop);
  std::function<void()> write_more = [&] {
    pair.client->write(std::string(4096, 'w'));
    if (client.ends == 0) writer.start(5, write_more);
  };
  writer.start(5, write_more);
  EXPECT_TRUE(run_until(loop, [&] { return client.ends > 0; }));
  run_for(loop, 30);
  EXPECT_EQ(client.ends, 1);
  EXPECT_FALSE(client.end.clean);
  EXPECT_FALSE(client.end.reason.empty());
}

// ~Loop force-closes connections still flushing after end(), at once and without leaks
// (valgrind), although the peer, a plain socket outside the loop, never reads.
TEST(TcpTransport, LoopDestroyedWhileAnEndedConnectionLingers) {
  auto loop = std::make_unique<Loop>();
  TransportPtr server;
  std::unique_ptr<TcpListener> listener = testing::listen_on(
      *loop, testing::loopback_address(), [&](TransportPtr accepted) { server = std::move(accepted); });
  ASSERT_TRUE(listener);
  int peer = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(peer, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(listener->local_address().port());
  ASSERT_EQ(connect(peer, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_TRUE(run_until(*loop, [&] { return server != nullptr; }));

  for (int i = 0; i < 32; ++i) server->write(std::string(256u << 10, 'l'));
  ASSERT_GT(server->queued_bytes(), 0u);
  server->end();
  server.reset();
  listener.reset();
  // The writes can't finish and the linger timer has 10 s to go: ~Loop must force-close.
  auto started = std::chrono::steady_clock::now();
  loop.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  ::close(peer);
}

}  // namespace
}  // namespace popgate::io
