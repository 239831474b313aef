// TlsTransport on 127.0.0.1, both ends in one loop: handshakes by name and by address,
// every verification failure with its reason, watermarks under a pausing reader, clean and
// unclean ends, hostile or silent clients, and owners destroyed from inside their callbacks.
#include "gateway/io/tls_transport.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "tests/unit/gateway/io/io_test_support.h"
#include "tests/unit/gateway/io/test_certificates.h"

namespace popgate::io {
namespace {

using testing::connect_pair;
using testing::ConnectedPair;
using testing::RecordingHandler;
using testing::run_for;
using testing::run_until;
using testing::test_certificates;
using testing::TestCertificates;
using Clock = std::chrono::steady_clock;

char pattern_byte(size_t offset) {
  return static_cast<char>('A' + offset % 29);
}

std::string pattern(size_t offset, size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(offset + i);
  return bytes;
}

std::shared_ptr<TlsServerContext> server_context(const std::string& cert, const std::string& key) {
  Result<std::shared_ptr<TlsServerContext>> result = TlsServerContext::load(cert, key);
  if (!result.ok()) {
    ADD_FAILURE() << result.error().detail;
    return nullptr;
  }
  return std::move(result).value();
}

std::shared_ptr<TlsClientContext> client_context(const std::string& ca_file, bool verify = true) {
  Result<std::shared_ptr<TlsClientContext>> result =
      TlsClientContext::create({.ca_file = ca_file, .verify = verify});
  if (!result.ok()) {
    ADD_FAILURE() << result.error().detail;
    return nullptr;
  }
  return std::move(result).value();
}

// The outcome of one side's handshake.
struct Outcome {
  int calls = 0;
  std::optional<Status> status;
  bool ok() const { return status && status->ok(); }
  std::string detail() const { return status && !status->ok() ? status->error().detail : std::string(); }
  HandshakeDone callback() {
    return [this](Status result) {
      ++calls;
      status = std::move(result);
    };
  }
};

// Both ends of a TLS connection over one TCP connection on 127.0.0.1.
struct TlsPair {
  std::unique_ptr<TlsTransport> server;
  std::unique_ptr<TlsTransport> client;
  Outcome server_outcome;
  Outcome client_outcome;
  bool finished() const { return server_outcome.calls > 0 && client_outcome.calls > 0; }
};

std::unique_ptr<TlsPair> start_tls(Loop& loop, std::shared_ptr<TlsServerContext> server_ctx,
                                   std::shared_ptr<TlsClientContext> client_ctx,
                                   const std::string& server_name, Watermarks watermarks = {},
                                   uint64_t timeout_ms = 5'000) {
  ConnectedPair tcp = connect_pair(loop, watermarks);
  if (!tcp.server || !tcp.client || !server_ctx || !client_ctx) return nullptr;
  auto pair = std::make_unique<TlsPair>();
  pair->server = TlsTransport::accept(loop, std::move(tcp.server), std::move(server_ctx), timeout_ms,
                                      pair->server_outcome.callback());
  pair->client = TlsTransport::connect(loop, std::move(tcp.client), std::move(client_ctx), server_name,
                                       timeout_ms, pair->client_outcome.callback());
  // Never inside the call.
  EXPECT_EQ(pair->server_outcome.calls, 0);
  EXPECT_EQ(pair->client_outcome.calls, 0);
  return pair;
}

// A completed handshake, or nullptr after a test failure.
std::unique_ptr<TlsPair> handshake(Loop& loop, std::shared_ptr<TlsServerContext> server_ctx,
                                   std::shared_ptr<TlsClientContext> client_ctx,
                                   const std::string& server_name, Watermarks watermarks = {}) {
  std::unique_ptr<TlsPair> pair =
      start_tls(loop, std::move(server_ctx), std::move(client_ctx), server_name, watermarks);
  if (!pair) return nullptr;
  EXPECT_TRUE(run_until(loop, [&] { return pair->finished(); }));
  if (!pair->server_outcome.ok() || !pair->client_outcome.ok()) {
    ADD_FAILURE() << "server: " << pair->server_outcome.detail()
                  << "; client: " << pair->client_outcome.detail();
    return nullptr;
  }
  return pair;
}

// The first flight of a real client, to send in part.
std::string client_hello(SSL_CTX* ctx) {
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  SSL_set_connect_state(ssl.get());
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  EXPECT_EQ(SSL_do_handshake(ssl.get()), -1);
  const uint8_t* contents = nullptr;
  size_t length = 0;
  BIO_mem_contents(out, &contents, &length);
  return std::string(reinterpret_cast<const char*>(contents), length);
}

class TlsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(certs.error, ""); }

  std::shared_ptr<TlsServerContext> good_server() {
    return server_context(certs.server_cert, certs.server_key);
  }
  std::shared_ptr<TlsClientContext> verifying_client() { return client_context(certs.ca_cert); }

  // A handshake that must work: the process is unaffected by what went before.
  void expect_a_working_handshake() {
    std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
    ASSERT_TRUE(pair);
    RecordingHandler server;
    pair->server->set_handler(&server);
    pair->server->start_reading();
    pair->client->write("CAPA\r\n");
    EXPECT_TRUE(run_until(loop, [&] { return server.data == "CAPA\r\n"; }));
  }

  const TestCertificates& certs = test_certificates();
  Loop loop;
};

TEST_F(TlsTransportTest, HandshakeByNameAndEchoBothWays) {
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  EXPECT_EQ(pair->server_outcome.calls, 1);
  EXPECT_EQ(pair->client_outcome.calls, 1);
  EXPECT_TRUE(pair->server->secure());
  EXPECT_TRUE(pair->client->secure());
  EXPECT_EQ(pair->server->protocol_version(), "TLSv1.3");
  EXPECT_EQ(pair->client->protocol_version(), "TLSv1.3");
  EXPECT_FALSE(pair->client->cipher().empty());
  EXPECT_EQ(pair->client->cipher(), pair->server->cipher());
  EXPECT_EQ(pair->server->peer().address, "127.0.0.1");
  EXPECT_TRUE(pair->client->peer().loopback);

  RecordingHandler server;
  server.on_data_hook = [&](std::string_view bytes) { pair->server->write(bytes); };
  pair->server->set_handler(&server);
  pair->server->start_reading();
  RecordingHandler client;
  pair->client->set_handler(&client);
  pair->client->start_reading();

  pair->server->write("+OK popgate ready\r\n");
  EXPECT_TRUE(run_until(loop, [&] { return client.data == "+OK popgate ready\r\n"; }));
  client.data.clear();
  pair->client->write("USER alice\r\n");
  pair->client->write("PASS ");
  pair->client->write("secret\r\n");
  const std::string expected = "USER alice\r\nPASS secret\r\n";
  EXPECT_TRUE(run_until(loop, [&] { return client.data.size() >= expected.size(); }));
  EXPECT_EQ(client.data, expected);
  EXPECT_EQ(server.data, expected);
  EXPECT_EQ(client.ends + server.ends, 0);
  EXPECT_EQ(pair->client->queued_bytes(), 0u);
}

TEST_F(TlsTransportTest, HandshakeByIpAddress) {
  uint64_t handshakes_before = tls_counters().handshakes;
  uint64_t client_handshakes_before = tls_counters().client_handshakes;
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "127.0.0.1");
  ASSERT_TRUE(pair);
  // Both ends count as handshakes; only the client end is popgate's upstream side.
  EXPECT_EQ(tls_counters().handshakes, handshakes_before + 2);
  EXPECT_EQ(tls_counters().client_handshakes, client_handshakes_before + 1);
  EXPECT_EQ(pair->client->protocol_version(), "TLSv1.3");
  RecordingHandler server;
  pair->server->set_handler(&server);
  pair->server->start_reading();
  pair->client->write("STAT\r\n");
  EXPECT_TRUE(run_until(loop, [&] { return server.data == "STAT\r\n"; }));
}

TEST_F(TlsTransportTest, NotSecureAndSilentBeforeTheHandshake) {
  std::unique_ptr<TlsPair> pair = start_tls(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  EXPECT_FALSE(pair->server->secure());
  EXPECT_FALSE(pair->client->secure());
  EXPECT_EQ(pair->client->protocol_version(), "");
  EXPECT_EQ(pair->client->cipher(), "");
  EXPECT_TRUE(run_until(loop, [&] { return pair->finished(); }));
  EXPECT_TRUE(pair->client->secure());
}

// Both sides write as soon as they exist; nothing reaches a handler before its `done`.
TEST_F(TlsTransportTest, WritesBeforeTheHandshakeAreDeliveredAfterIt) {
  std::unique_ptr<TlsPair> pair = start_tls(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  RecordingHandler server;
  RecordingHandler client;
  bool early = false;
  server.on_data_hook = [&](std::string_view) { early = early || pair->server_outcome.calls == 0; };
  client.on_data_hook = [&](std::string_view) { early = early || pair->client_outcome.calls == 0; };
  pair->server->set_handler(&server);
  pair->server->start_reading();
  pair->client->set_handler(&client);
  pair->client->start_reading();
  pair->server->write("+OK greeting\r\n");
  pair->client->write("USER early\r\n");
  const std::string big = pattern(0, 300u << 10);  // past the high watermark before the handshake
  pair->client->write(big);
  EXPECT_GE(pair->client->queued_bytes(), big.size());
  EXPECT_TRUE(pair->client->over_high_watermark());
  EXPECT_TRUE(run_until(loop, [&] { return server.data.size() == 12 + big.size() && !client.data.empty(); }));
  EXPECT_FALSE(early);
  EXPECT_TRUE(server.data == "USER early\r\n" + big);
  EXPECT_EQ(client.data, "+OK greeting\r\n");
  EXPECT_TRUE(run_until(loop, [&] { return client.drained > 0; }));  // the early writer is told to go on
  EXPECT_FALSE(pair->client->over_high_watermark());
}

// Data that came with the peer's last handshake flight waits until the handler reads.
TEST_F(TlsTransportTest, ReadingStartedAfterTheHandshakeGetsEarlierData) {
  std::unique_ptr<TlsPair> pair = start_tls(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  pair->client->write("APOP early\r\n");
  ASSERT_TRUE(run_until(loop, [&] { return pair->finished(); }));
  run_for(loop, 30);
  RecordingHandler server;
  pair->server->set_handler(&server);
  pair->server->start_reading();
  EXPECT_TRUE(server.data.empty());  // never inside start_reading()
  EXPECT_TRUE(run_until(loop, [&] { return server.data == "APOP early\r\n"; }));
}

// One end of a bulk transfer in each direction at once: writes until over the high watermark,
// resumes on on_drained; reads, checks the pattern, pauses half-way.
struct BulkEndpoint : TransportHandler {
  BulkEndpoint(Loop& loop, TlsTransport& transport, size_t total)
      : transport(transport), total(total), resume(loop) {}

  void pump() {
    while (sent < total && !transport.over_high_watermark()) {
      size_t size = std::min<size_t>(64u << 10, total - sent);
      transport.write(pattern(sent, size));
      sent += size;
      max_queued = std::max(max_queued, transport.queued_bytes());
    }
    if (transport.over_high_watermark()) ++times_over_high;
  }
  void on_data(std::string_view bytes) override {
    for (size_t i = 0; i < bytes.size() && in_order; ++i) in_order = bytes[i] == pattern_byte(received + i);
    received += bytes.size();
    if (!paused && received >= total / 2) {
      paused = true;
      transport.stop_reading();
      resume.start(50, [this] { transport.start_reading(); });
    }
  }
  void on_end(const StreamEnd& end) override { ADD_FAILURE() << "unexpected end: " << end.reason; }
  void on_drained() override {
    ++drained;
    EXPECT_LE(transport.queued_bytes(), transport.watermarks().low);
    pump();
  }
  bool done() const { return received == total && sent == total && transport.queued_bytes() == 0; }
  // Writes while nobody reads until the transport's own queue passes the high watermark, that
  // is until the kernel's socket buffers are full: how much that takes depends on the kernel
  // (loopback buffers autotune to many megabytes), so `total` is set afterwards.
  void fill() {
    while (!transport.over_high_watermark() && sent < kFillLimit) {
      transport.write(pattern(sent, 64u << 10));
      sent += 64u << 10;
      max_queued = std::max(max_queued, transport.queued_bytes());
    }
    if (transport.over_high_watermark()) ++times_over_high;
  }
  static constexpr size_t kFillLimit = 1u << 30;

  TlsTransport& transport;
  size_t total;
  size_t sent = 0;
  size_t received = 0;
  size_t max_queued = 0;
  int times_over_high = 0;
  int drained = 0;
  bool in_order = true;
  bool paused = false;
  Timer resume;
};

TEST_F(TlsTransportTest, BulkEachWayWithPausingReaders) {
  const Watermarks watermarks{.high = 128 * 1024, .low = 32 * 1024};
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost", watermarks);
  ASSERT_TRUE(pair);
  BulkEndpoint server(loop, *pair->server, 0);
  BulkEndpoint client(loop, *pair->client, 0);
  pair->server->set_handler(&server);
  pair->client->set_handler(&client);

  // Neither reads yet: the sockets fill, then both queues pass the high watermark. Then 4 MiB
  // more each way, through the pauses and resumptions.
  server.fill();
  client.fill();
  ASSERT_TRUE(pair->server->over_high_watermark());
  ASSERT_TRUE(pair->client->over_high_watermark());
  const size_t kTotal = std::max(server.sent, client.sent) + (4u << 20);
  server.total = client.total = kTotal;
  server.resume.start(50, [&] { pair->server->start_reading(); });
  client.resume.start(50, [&] { pair->client->start_reading(); });

  EXPECT_TRUE(run_until(
      loop, [&] { return server.done() && client.done(); }, 120'000));
  for (BulkEndpoint* end : {&server, &client}) {
    EXPECT_EQ(end->received, kTotal);
    EXPECT_TRUE(end->in_order);
    EXPECT_TRUE(end->paused);
    EXPECT_GE(end->drained, 1);
    EXPECT_GE(end->times_over_high, 1);
    EXPECT_GT(end->max_queued, watermarks.high);
    EXPECT_FALSE(end->transport.over_high_watermark());
  }
}

TEST_F(TlsTransportTest, CloseNotifyIsACleanEndAfterTheData) {
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  RecordingHandler server;
  size_t at_end = 0;
  server.on_end_hook = [&](const StreamEnd&) { at_end = server.data.size(); };
  pair->server->set_handler(&server);
  pair->server->start_reading();
  const std::string last = pattern(0, 1u << 20);
  pair->client->write(last);
  pair->client->end();
  pair->client.reset();  // allowed right after end()
  EXPECT_TRUE(run_until(loop, [&] { return server.ends > 0; }));
  EXPECT_TRUE(server.end.clean) << server.end.reason;
  EXPECT_EQ(at_end, last.size());
  EXPECT_TRUE(server.data == last);
  run_for(loop, 30);
  EXPECT_EQ(server.ends, 1);
}

TEST_F(TlsTransportTest, ServerCloseNotifyIsACleanEndForTheClient) {
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  RecordingHandler client;
  pair->client->set_handler(&client);
  pair->client->start_reading();
  pair->server->write("+OK bye\r\n");
  pair->server->end();
  EXPECT_TRUE(run_until(loop, [&] { return client.ends > 0; }));
  EXPECT_EQ(client.data, "+OK bye\r\n");
  EXPECT_TRUE(client.end.clean) << client.end.reason;
}

TEST_F(TlsTransportTest, TcpEofWithoutCloseNotifyIsTruncation) {
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  RecordingHandler server;
  pair->server->set_handler(&server);
  pair->server->start_reading();
  pair->client->write("RETR 1\r\n");
  ASSERT_TRUE(run_until(loop, [&] { return server.data == "RETR 1\r\n"; }));
  pair->client.reset();  // an abort: TCP FIN, no close_notify
  EXPECT_TRUE(run_until(loop, [&] { return server.ends > 0; }));
  EXPECT_FALSE(server.end.clean);
  EXPECT_EQ(server.end.reason, "connection closed without TLS close_notify");
}

TEST_F(TlsTransportTest, TcpResetMidStreamIsNotClean) {
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  RecordingHandler server;  // never reads: what the client sends stays unread in the socket
  pair->server->set_handler(&server);
  RecordingHandler client;
  pair->client->set_handler(&client);
  pair->client->start_reading();
  pair->server->write(pattern(0, 32u << 10));
  pair->client->write(pattern(0, 64u << 10));
  ASSERT_TRUE(
      run_until(loop, [&] { return client.data.size() == 32u << 10 && pair->client->queued_bytes() == 0; }));
  run_for(loop, 20);
  pair->server.reset();  // closing with unread input sends an RST
  EXPECT_TRUE(run_until(loop, [&] { return client.ends > 0; }));
  EXPECT_FALSE(client.end.clean);
  EXPECT_EQ(client.end.reason, "connection reset by peer");
  EXPECT_TRUE(server.data.empty());
}

TEST_F(TlsTransportTest, OwnerDestroyedInsideOnData) {
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  int calls = 0;
  RecordingHandler server;
  server.on_data_hook = [&](std::string_view) {
    ++calls;
    pair->server->write("-ERR bye\r\n");
    pair->server.reset();
  };
  pair->server->set_handler(&server);
  pair->server->start_reading();
  // Many records, several per read: nothing may be delivered after the reset.
  for (int i = 0; i < 64; ++i) pair->client->write(pattern(0, 16u << 10));
  RecordingHandler client;
  pair->client->set_handler(&client);
  pair->client->start_reading();
  EXPECT_TRUE(run_until(loop, [&] { return pair->server == nullptr && client.ends > 0; }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client.ends, 1);
  EXPECT_FALSE(client.end.clean);
}

TEST_F(TlsTransportTest, OwnerDestroyedInsideOnEnd) {
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  RecordingHandler server;
  server.on_end_hook = [&](const StreamEnd&) { pair->server.reset(); };
  pair->server->set_handler(&server);
  pair->server->start_reading();
  pair->client->write("QUIT\r\n");
  pair->client->end();
  pair->client.reset();
  EXPECT_TRUE(run_until(loop, [&] { return pair->server == nullptr; }));
  EXPECT_EQ(server.data, "QUIT\r\n");
  EXPECT_EQ(server.ends, 1);
  EXPECT_TRUE(server.end.clean);
}

TEST_F(TlsTransportTest, OwnerDestroyedInsideDone) {
  int calls = 0;
  ConnectedPair tcp = connect_pair(loop);
  ASSERT_TRUE(tcp.server && tcp.client);
  std::unique_ptr<TlsTransport> server;
  server = TlsTransport::accept(loop, std::move(tcp.server), good_server(), 5'000, [&](Status status) {
    ++calls;
    EXPECT_TRUE(status.ok());
    server.reset();
  });
  Outcome client_outcome;
  std::unique_ptr<TlsTransport> client = TlsTransport::connect(
      loop, std::move(tcp.client), verifying_client(), "localhost", 5'000, client_outcome.callback());
  client->write("early data\r\n");  // arrives with the client's Finished
  EXPECT_TRUE(run_until(loop, [&] { return server == nullptr && client_outcome.calls > 0; }));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(client_outcome.ok()) << client_outcome.detail();
  run_for(loop, 30);
}

TEST_F(TlsTransportTest, DestroyedDuringTheHandshake) {
  std::unique_ptr<TlsPair> pair = start_tls(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  pair->server.reset();  // before the ClientHello arrives
  EXPECT_TRUE(run_until(loop, [&] { return pair->client_outcome.calls > 0; }));
  EXPECT_FALSE(pair->client_outcome.ok());
  EXPECT_EQ(pair->server_outcome.calls, 0);

  // And the client, once its ClientHello is out.
  pair = start_tls(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  loop.run_nowait();  // the ClientHello goes out; the server may answer, the client has not read it
  pair->client.reset();
  EXPECT_TRUE(run_until(loop, [&] { return pair->server_outcome.calls > 0; }));
  EXPECT_FALSE(pair->server_outcome.ok());
  run_for(loop, 30);
  EXPECT_EQ(pair->client_outcome.calls, 0);
}

TEST_F(TlsTransportTest, EndDuringTheHandshakeEndsTheInnerTransport) {
  std::unique_ptr<TlsPair> pair = start_tls(loop, good_server(), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  pair->client->write("never sent\r\n");
  pair->client->end();
  EXPECT_TRUE(run_until(loop, [&] { return pair->server_outcome.calls > 0; }));
  EXPECT_FALSE(pair->server_outcome.ok());
  EXPECT_EQ(pair->server_outcome.detail(), "connection closed during the TLS handshake");
  run_for(loop, 30);
  EXPECT_EQ(pair->client_outcome.calls, 0);  // ended: `done` is not called
}

TEST_F(TlsTransportTest, GarbageInsteadOfAClientHelloFailsAtOnce) {
  const struct {
    std::string bytes;
    std::string reason;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "TLS handshake failed: http request"},
      {"USER alice\r\n", "TLS handshake failed: wrong version number"},
      {std::string("\x16\x03\x01\x00\x05\x00\x00\x00\x00\x00", 10),
       "TLS handshake failed: unexpected message"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reason);
    ConnectedPair tcp = connect_pair(loop);
    ASSERT_TRUE(tcp.server && tcp.client);
    uint64_t failures_before = tls_counters().handshake_failures;
    uint64_t client_failures_before = tls_counters().client_handshake_failures;
    Outcome outcome;
    std::unique_ptr<TlsTransport> server =
        TlsTransport::accept(loop, std::move(tcp.server), good_server(), 5'000, outcome.callback());
    RecordingHandler raw_client;
    tcp.client->set_handler(&raw_client);
    tcp.client->start_reading();
    tcp.client->write(c.bytes);
    auto started = Clock::now();
    EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(1));
    ASSERT_TRUE(outcome.status);
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.status->error().kind, ErrorKind::Temporary);
    EXPECT_EQ(outcome.detail(), c.reason);
    EXPECT_EQ(tls_counters().handshake_failures, failures_before + 1);
    EXPECT_EQ(tls_counters().client_handshake_failures, client_failures_before) << "a server-side failure";
    EXPECT_TRUE(run_until(loop, [&] { return raw_client.ends > 0; }));  // the server closed
    server.reset();
    run_for(loop, 20);
    EXPECT_EQ(outcome.calls, 1);
  }
  expect_a_working_handshake();
}

TEST_F(TlsTransportTest, TruncatedClientHelloThenEofFails) {
  ConnectedPair tcp = connect_pair(loop);
  ASSERT_TRUE(tcp.server && tcp.client);
  Outcome outcome;
  std::unique_ptr<TlsTransport> server =
      TlsTransport::accept(loop, std::move(tcp.server), good_server(), 5'000, outcome.callback());
  std::shared_ptr<TlsClientContext> client_ctx = verifying_client();
  ASSERT_TRUE(client_ctx);
  tcp.client->write(client_hello(client_ctx->get()).substr(0, 60));
  tcp.client->end();
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.detail(), "connection closed during the TLS handshake");
}

// BoringSSL's defaults allow TLS 1.2; anything older is refused.
TEST_F(TlsTransportTest, Tls12IsTheMinimum) {
  std::shared_ptr<TlsClientContext> tls12 = verifying_client();
  ASSERT_TRUE(tls12);
  SSL_CTX_set_max_proto_version(tls12->get(), TLS1_2_VERSION);
  std::unique_ptr<TlsPair> pair = handshake(loop, good_server(), tls12, "localhost");
  ASSERT_TRUE(pair);
  EXPECT_EQ(pair->client->protocol_version(), "TLSv1.2");
  EXPECT_EQ(pair->server->protocol_version(), "TLSv1.2");
  RecordingHandler server;
  pair->server->set_handler(&server);
  pair->server->start_reading();
  pair->client->write("NOOP\r\n");
  EXPECT_TRUE(run_until(loop, [&] { return server.data == "NOOP\r\n"; }));
  pair->client->end();
  EXPECT_TRUE(run_until(loop, [&] { return server.ends > 0; }));
  EXPECT_TRUE(server.end.clean) << server.end.reason;

  std::shared_ptr<TlsClientContext> tls11 = client_context(certs.ca_cert);
  ASSERT_TRUE(tls11);
  SSL_CTX_set_min_proto_version(tls11->get(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(tls11->get(), TLS1_1_VERSION);
  pair = start_tls(loop, good_server(), tls11, "localhost");
  ASSERT_TRUE(pair);
  EXPECT_TRUE(run_until(loop, [&] { return pair->finished(); }));
  EXPECT_EQ(pair->server_outcome.detail(), "TLS handshake failed: unsupported protocol");
  EXPECT_FALSE(pair->client_outcome.ok());
}

TEST_F(TlsTransportTest, TruncatedClientHelloTimesOut) {
  ConnectedPair tcp = connect_pair(loop);
  ASSERT_TRUE(tcp.server && tcp.client);
  Outcome outcome;
  auto started = Clock::now();
  std::unique_ptr<TlsTransport> server =
      TlsTransport::accept(loop, std::move(tcp.server), good_server(), 200, outcome.callback());
  std::shared_ptr<TlsClientContext> client_ctx = verifying_client();
  ASSERT_TRUE(client_ctx);
  std::string hello = client_hello(client_ctx->get());
  ASSERT_GT(hello.size(), 100u);
  RecordingHandler raw_client;
  tcp.client->set_handler(&raw_client);
  tcp.client->start_reading();
  tcp.client->write(hello.substr(0, hello.size() / 2));  // then silence
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  auto elapsed = Clock::now() - started;
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.detail(), "TLS handshake timed out");
  EXPECT_TRUE(run_until(loop, [&] { return raw_client.ends > 0; }));
  EXPECT_TRUE(raw_client.data.empty());
  server.reset();
  expect_a_working_handshake();
}

TEST_F(TlsTransportTest, SilentServerTimesTheClientOut) {
  ConnectedPair tcp = connect_pair(loop);
  ASSERT_TRUE(tcp.server && tcp.client);
  RecordingHandler raw_server;  // takes the ClientHello, answers nothing
  tcp.server->set_handler(&raw_server);
  tcp.server->start_reading();
  Outcome outcome;
  std::unique_ptr<TlsTransport> client = TlsTransport::connect(
      loop, std::move(tcp.client), verifying_client(), "localhost", 200, outcome.callback());
  EXPECT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.detail(), "TLS handshake timed out");
  EXPECT_FALSE(raw_server.data.empty());
  EXPECT_EQ(raw_server.data[0], '\x16');  // a handshake record
  EXPECT_TRUE(run_until(loop, [&] { return raw_server.ends > 0; }));
}

TEST_F(TlsTransportTest, FullChainIsServedAndVerified) {
  std::unique_ptr<TlsPair> pair =
      handshake(loop, server_context(certs.chain_cert, certs.chain_key), verifying_client(), "localhost");
  ASSERT_TRUE(pair);
  RecordingHandler client;
  pair->client->set_handler(&client);
  pair->client->start_reading();
  pair->server->write("+OK chained\r\n");
  EXPECT_TRUE(run_until(loop, [&] { return client.data == "+OK chained\r\n"; }));
}

TEST_F(TlsTransportTest, VerifyingClientNeedsAServerName) {
  std::unique_ptr<TlsPair> pair = start_tls(loop, good_server(), verifying_client(), "");
  ASSERT_TRUE(pair);
  EXPECT_TRUE(run_until(loop, [&] { return pair->finished(); }));
  EXPECT_EQ(pair->client_outcome.detail(),
            "TLS setup failed: no server name to check the certificate against");
  EXPECT_FALSE(pair->server_outcome.ok());
}

struct VerifyCase {
  const char* name;
  std::string TestCertificates::*cert;
  std::string TestCertificates::*key;
  const char* server_name;
  const char* reason;
};

class TlsVerification : public TlsTransportTest, public ::testing::WithParamInterface<VerifyCase> {};

TEST_P(TlsVerification, FailsWithTheReason) {
  const VerifyCase& c = GetParam();
  uint64_t failures_before = tls_counters().handshake_failures;
  std::unique_ptr<TlsPair> pair =
      start_tls(loop, server_context(certs.*c.cert, certs.*c.key), verifying_client(), c.server_name);
  ASSERT_TRUE(pair);
  EXPECT_TRUE(run_until(loop, [&] { return pair->finished(); }));
  ASSERT_TRUE(pair->client_outcome.status);
  ASSERT_FALSE(pair->client_outcome.ok());
  EXPECT_EQ(pair->client_outcome.status->error().kind, ErrorKind::Temporary);
  EXPECT_EQ(pair->client_outcome.detail(), std::string("certificate verify failed: ") + c.reason);
  // The client's alert tells the server why.
  EXPECT_FALSE(pair->server_outcome.ok());
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "alert", pair->server_outcome.detail());
  EXPECT_EQ(tls_counters().handshake_failures, failures_before + 2);
}

TEST_P(TlsVerification, InsecureClientAcceptsIt) {
  const VerifyCase& c = GetParam();
  std::unique_ptr<TlsPair> pair = handshake(loop, server_context(certs.*c.cert, certs.*c.key),
                                            client_context("", /*verify=*/false), c.server_name);
  ASSERT_TRUE(pair);
  RecordingHandler client;
  pair->client->set_handler(&client);
  pair->client->start_reading();
  pair->server->write("+OK insecure\r\n");
  EXPECT_TRUE(run_until(loop, [&] { return client.data == "+OK insecure\r\n"; }));
}

INSTANTIATE_TEST_SUITE_P(
    Tls, TlsVerification,
    ::testing::Values(VerifyCase{"Expired", &TestCertificates::expired_cert, &TestCertificates::expired_key,
                                 "localhost", "certificate has expired"},
                      VerifyCase{"WrongHost", &TestCertificates::wrong_host_cert,
                                 &TestCertificates::wrong_host_key, "localhost", "Hostname mismatch"},
                      VerifyCase{"WrongAddress", &TestCertificates::wrong_host_cert,
                                 &TestCertificates::wrong_host_key, "127.0.0.1", "IP address mismatch"},
                      VerifyCase{"ServerCertificateForAnotherName", &TestCertificates::server_cert,
                                 &TestCertificates::server_key, "mail.example", "Hostname mismatch"},
                      VerifyCase{"UnknownCa", &TestCertificates::unknown_ca_cert,
                                 &TestCertificates::unknown_ca_key, "localhost",
                                 "unable to get local issuer certificate"},
                      VerifyCase{"SelfSigned", &TestCertificates::self_signed_cert,
                                 &TestCertificates::self_signed_key, "localhost", "self signed certificate"},
                      VerifyCase{"ChainWithoutIntermediate", &TestCertificates::chain_leaf_only,
                                 &TestCertificates::chain_key, "localhost",
                                 "unable to get local issuer certificate"}),
    [](const ::testing::TestParamInfo<VerifyCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace popgate::io
