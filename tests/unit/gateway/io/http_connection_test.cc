// HttpConnection against FakeHttpServer, a scripted fake HTTP/1.1 server on 127.0.0.1 port 0
// in the test's own loop. It is a fake on purpose: it scripts the faults a real server only
// shows by accident (closing a kept-alive connection, stalling, cutting a body short, talking
// garbage) and records the exact request bytes it received.
#include "gateway/io/http_connection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/io/tls_transport.h"
#include "tests/unit/gateway/io/io_test_support.h"
#include "tests/unit/gateway/io/test_certificates.h"

namespace popgate::io {
namespace {

using testing::listen_on;
using testing::loopback_address;
using testing::run_for;
using testing::run_until;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string http_response(int status, const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " Whatever\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

char pattern_byte(uint64_t offset) {
  return static_cast<char>('a' + offset % 26 + (offset / 26) % 7);
}

std::string pattern(uint64_t offset, size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(offset + i);
  return bytes;
}

class FakeHttpServer {
 public:
  // One accepted connection.
  struct Peer final : TransportHandler {
    void on_data(std::string_view data) override {
      buffer.append(data);
      server->take_requests(*this);
    }
    void on_end(const StreamEnd&) override { ended = true; }

    void send(std::string_view bytes) {
      if (transport) transport->write(bytes);
    }
    // Flushes what was sent, then closes.
    void end() {
      if (transport) transport->end();
    }
    // Closes at once, whatever is queued.
    void abort() {
      transport.reset();
      ended = true;
    }
    size_t queued() const { return transport ? transport->queued_bytes() : 0; }

    FakeHttpServer* server = nullptr;
    TransportPtr transport;
    std::string buffer;
    int requests = 0;
    bool ended = false;
  };
  // Answers one complete request on `peer`; the default says 200 "ok".
  using Responder = std::function<void(Peer& peer, const std::string& request)>;

  explicit FakeHttpServer(Loop& loop, std::shared_ptr<TlsServerContext> tls = nullptr)
      : loop_(loop), tls_(tls) {
    listener_ =
        listen_on(loop, loopback_address(), [this](TransportPtr accepted) { accept(std::move(accepted)); });
    respond = [](Peer& peer, const std::string&) { peer.send(http_response(200, "ok")); };
  }

  uint16_t port() const { return listener_ ? listener_->local_address().port() : 0; }
  std::string origin(const char* scheme = "http", const char* host = "127.0.0.1") const {
    return std::string(scheme) + "://" + host + ":" + std::to_string(port()) + "/";
  }

  Responder respond;
  std::vector<std::string> requests;  // every complete request, in order of arrival
  std::vector<std::unique_ptr<Peer>> peers;
  std::vector<Status> handshakes;

 private:
  void accept(TransportPtr accepted) {
    auto peer = std::make_unique<Peer>();
    peer->server = this;
    if (tls_) {
      Peer* raw = peer.get();
      peer->transport =
          TlsTransport::accept(loop_, std::move(accepted), tls_, 5'000, [this, raw](Status status) {
            handshakes.push_back(status);
            (void)raw;
          });
    } else {
      peer->transport = std::move(accepted);
    }
    peer->transport->set_handler(peer.get());
    peer->transport->start_reading();
    peers.push_back(std::move(peer));
  }

  // Cuts complete requests (head, and a body by Content-Length) off the peer's buffer.
  void take_requests(Peer& peer) {
    for (;;) {
      size_t head_end = peer.buffer.find("\r\n\r\n");
      if (head_end == std::string::npos) return;
      std::string head = lower(peer.buffer.substr(0, head_end + 2));
      size_t length = 0;
      size_t field = head.find("\r\ncontent-length:");
      if (field != std::string::npos) length = std::stoul(head.substr(field + 17));
      size_t total = head_end + 4 + length;
      if (peer.buffer.size() < total) return;
      std::string request = peer.buffer.substr(0, total);
      peer.buffer.erase(0, total);
      requests.push_back(request);
      ++peer.requests;
      respond(peer, request);
      if (!peer.transport) return;
    }
  }

  Loop& loop_;
  std::shared_ptr<TlsServerContext> tls_;
  std::unique_ptr<TcpListener> listener_;
};

// The outcome of request().
struct Outcome {
  int calls = 0;
  std::optional<Result<HttpResponse>> result;
  bool ok() const { return result && result->ok(); }
  const HttpResponse& response() const { return result->value(); }
  std::string detail() const { return result && !result->ok() ? result->error().detail : std::string(); }
  ErrorKind kind() const { return result && !result->ok() ? result->error().kind : ErrorKind::Internal; }
  HttpConnection::Done callback() {
    return [this](Result<HttpResponse> r) {
      ++calls;
      result = std::move(r);
    };
  }
};

// The outcome of request_streaming(), and the sink it streams to.
struct StreamOutcome final : HttpBodySink {
  void on_head(const HttpResponseHead& h) override {
    ++heads;
    head = h;
    if (on_head_hook) on_head_hook();
  }
  bool on_body(std::string_view chunk) override {
    EXPECT_EQ(heads, 1);
    // Views into the read buffer, in order.
    for (size_t i = 0; i < chunk.size() && check_pattern; ++i) {
      if (chunk[i] != pattern_byte(bytes + i)) {
        in_order = false;
        break;
      }
    }
    if (keep_body) body.append(chunk);
    bytes += chunk.size();
    ++chunks;
    return on_body_hook ? on_body_hook(chunk) : true;
  }
  HttpConnection::StreamDone callback() {
    return [this](Status s) {
      ++calls;
      status = std::move(s);
    };
  }
  bool ok() const { return status && status->ok(); }
  std::string detail() const { return status && !status->ok() ? status->error().detail : std::string(); }

  int heads = 0;
  HttpResponseHead head;
  uint64_t bytes = 0;
  int chunks = 0;
  bool keep_body = true;
  bool check_pattern = false;
  bool in_order = true;
  std::string body;
  std::function<void()> on_head_hook;
  std::function<bool(std::string_view)> on_body_hook;
  int calls = 0;
  std::optional<Status> status;
};

HttpUrl url(const std::string& text) {
  std::optional<HttpUrl> parsed = HttpUrl::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(HttpUrl{});
}

HttpRequest get(std::string target) {
  HttpRequest request;
  request.target = std::move(target);
  return request;
}

TEST(HttpClient, GetWithJsonBody) {
  Loop loop;
  FakeHttpServer server(loop);
  const std::string json = R"({"apiUrl":"/jmap/api/","capabilities":{}})";
  server.respond = [&](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, json, "Content-Type: application/json\r\n"));
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome outcome;
  HttpRequest request = get("/.well-known/jmap");
  request.headers.emplace_back("Accept", "application/json");
  http.request(std::move(request), outcome.callback());
  EXPECT_EQ(outcome.calls, 0);  // never inside the call
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.ok()) << outcome.detail();
  EXPECT_EQ(outcome.response().head.status, 200);
  EXPECT_EQ(outcome.response().head.header("content-type"), "application/json");
  EXPECT_EQ(outcome.response().body, json);
  EXPECT_EQ(http.connections_opened(), 1u);
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0], "GET /.well-known/jmap HTTP/1.1\r\nHost: 127.0.0.1:" +
                                    std::to_string(server.port()) + "\r\nAccept: application/json\r\n\r\n");
  run_for(loop, 20);
  EXPECT_EQ(outcome.calls, 1);
}

TEST(HttpClient, PostSendsExactlyTheRequest) {
  Loop loop;
  FakeHttpServer server(loop);
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome outcome;
  HttpRequest request;
  request.method = "POST";
  request.target = "/jmap/api/?x=1";
  request.headers = {
      {"Authorization", "Bearer token"}, {"Content-Type", "application/json"}, {"X-Empty", ""}};
  request.body = R"({"using":[]})";
  request.sensitive = true;
  http.request(std::move(request), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.ok()) << outcome.detail();
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0],
            "POST /jmap/api/?x=1 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                "\r\nAuthorization: Bearer token\r\nContent-Type: application/json\r\nX-Empty: \r\n"
                "Content-Length: 12\r\n\r\n{\"using\":[]}");

  // An empty POST still says its length; the client's own framing replaces the caller's.
  Outcome second;
  HttpRequest empty;
  empty.method = "POST";
  empty.target = "/empty";
  empty.headers = {{"content-length", "99"}, {"Host", "evil"}};
  http.request(std::move(empty), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  ASSERT_EQ(server.requests.size(), 2u);
  EXPECT_EQ(server.requests[1], "POST /empty HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                                    "\r\nContent-Length: 0\r\n\r\n");
}

TEST(HttpClient, HostHeaderNamesTheOrigin) {
  Loop loop;
  FakeHttpServer server(loop);
  HttpConnection http(loop, url("http://LocalHost:" + std::to_string(server.port()) + "/ignored/path"),
                      nullptr);
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.ok()) << outcome.detail();
  EXPECT_EQ(server.requests.at(0),
            "GET / HTTP/1.1\r\nHost: localhost:" + std::to_string(server.port()) + "\r\n\r\n");
}

TEST(HttpClient, KeepAliveReusesTheConnection) {
  Loop loop;
  FakeHttpServer server(loop);
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second, third;
  http.request(get("/one"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok()) << first.detail();
  http.request(get("/two"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  // The next request from inside the callback, too.
  Outcome fourth;
  http.request(get("/three"), [&](Result<HttpResponse> r) {
    third.callback()(std::move(r));
    http.request(get("/four"), fourth.callback());
  });
  ASSERT_TRUE(run_until(loop, [&] { return fourth.calls > 0; }));
  ASSERT_TRUE(third.ok() && fourth.ok()) << fourth.detail();
  EXPECT_EQ(http.connections_opened(), 1u);
  EXPECT_EQ(server.peers.size(), 1u);
  EXPECT_EQ(server.requests.size(), 4u);
}

TEST(HttpClient, HeadAndNotModifiedHaveNoBody) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string& request) {
    if (request.starts_with("HEAD")) {
      peer.send("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    } else {
      peer.send("HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\n\r\n");
    }
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome head, cached;
  HttpRequest request = get("/blob");
  request.method = "HEAD";
  http.request(std::move(request), head.callback());
  ASSERT_TRUE(run_until(loop, [&] { return head.calls > 0; }));
  ASSERT_TRUE(head.ok()) << head.detail();
  EXPECT_EQ(head.response().head.header("Content-Length"), "5000");
  EXPECT_EQ(head.response().body, "");
  http.request(get("/blob"), cached.callback());
  ASSERT_TRUE(run_until(loop, [&] { return cached.calls > 0; }));
  ASSERT_TRUE(cached.ok()) << cached.detail();
  EXPECT_EQ(cached.response().head.status, 304);
  EXPECT_EQ(http.connections_opened(), 1u);
}

TEST(HttpClient, NonSuccessStatusesAreResponses) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.1 100 Continue\r\n\r\n" +
              http_response(401, "who are you", "WWW-Authenticate: Basic\r\n"));
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.ok()) << outcome.detail();
  EXPECT_EQ(outcome.response().head.status, 401);
  EXPECT_EQ(outcome.response().body, "who are you");
}

TEST(HttpClient, ConnectionCloseMeansANewConnection) {
  Loop loop;
  FakeHttpServer server(loop);
  // The server says so but leaves the connection open: the client closes it.
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, "bye", "Connection: close\r\n"));
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok()) << first.detail();
  EXPECT_EQ(first.response().body, "bye");
  ASSERT_TRUE(run_until(loop, [&] { return server.peers[0]->ended; }));
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
  EXPECT_EQ(server.peers.size(), 2u);
  EXPECT_EQ(server.peers[0]->requests, 1);
}

TEST(HttpClient, Http10WithoutKeepAliveIsNotReused) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok()) << first.detail();
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
  EXPECT_EQ(server.peers[0]->requests, 1);
}

TEST(HttpClient, UnaskedBytesAfterAResponseRetireTheConnection) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, "one") + http_response(200, "nobody asked"));
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok()) << first.detail();
  EXPECT_EQ(first.response().body, "one");
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(second.response().body, "one");
  EXPECT_EQ(http.connections_opened(), 2u);
  EXPECT_EQ(server.peers[0]->requests, 1);
}

TEST(HttpClient, Http10WithoutKeepAliveIsReadToTheEnd) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it");
    peer.end();
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok()) << first.detail();
  EXPECT_EQ(first.response().body, "all of it");
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
}

TEST(HttpClient, StaleKeepAliveIsRetriedOnce) {
  Loop loop;
  FakeHttpServer server(loop);
  // The first connection answers once, then drops the next request unanswered, as a
  // server does that closes an idle connection just as the request arrives.
  server.respond = [&](FakeHttpServer::Peer& peer, const std::string&) {
    if (&peer == server.peers[0].get() && peer.requests > 1) return peer.abort();
    peer.send(http_response(200, "request " + std::to_string(server.requests.size())));
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok()) << first.detail();
  HttpRequest post;
  post.method = "POST";
  post.target = "/api";
  post.body = "{}";
  http.request(std::move(post), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(second.response().body, "request 3");
  EXPECT_EQ(http.connections_opened(), 2u);
  ASSERT_EQ(server.requests.size(), 3u);
  EXPECT_EQ(server.requests[1], server.requests[2]);  // the same request once more
}

TEST(HttpClient, StaleKeepAliveIsRetriedOnlyOnce) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [&](FakeHttpServer::Peer& peer, const std::string&) {
    if (server.requests.size() > 1) return peer.abort();
    peer.send(http_response(200, "first"));
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.kind(), ErrorKind::Temporary);
  EXPECT_NE(second.detail().find("connection closed before the HTTP response"), std::string::npos)
      << second.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
  EXPECT_EQ(server.requests.size(), 3u);
}

TEST(HttpClient, FreshConnectionClosedBeforeTheResponseIsNotRetried) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) { peer.abort(); };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.kind(), ErrorKind::Temporary);
  EXPECT_NE(outcome.detail().find("connection closed before the HTTP response"), std::string::npos);
  EXPECT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(http.connections_opened(), 1u);
}

TEST(HttpClient, ServerClosingAnIdleConnectionIsNoticed) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, "ok"));
    peer.end();  // without saying so
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  run_for(loop, 50);  // the client sees the end while idle and forgets the connection
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
  EXPECT_EQ(server.requests.size(), 2u);  // no retry was needed
}

TEST(HttpClient, IdleConnectionIsClosedAfterTheIdleTimeout) {
  Loop loop;
  FakeHttpServer server(loop);
  HttpConnection http(loop, url(server.origin()), nullptr, {.idle_timeout_ms = 50});
  Outcome first, second;
  http.request(get("/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(run_until(
      loop, [&] { return server.peers[0]->ended; }, 2'000));
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
}

TEST(HttpClient, ChunkedResponse) {
  Loop loop;
  FakeHttpServer server(loop);
  Timer later(loop);
  server.respond = [&](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n");
    later.start(20, [&peer] { peer.send("1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"); });
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome outcome, again;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  ASSERT_TRUE(outcome.ok()) << outcome.detail();
  EXPECT_EQ(outcome.response().body, "hello world");
  http.request(get("/"), again.callback());
  ASSERT_TRUE(run_until(loop, [&] { return again.calls > 0; }));
  EXPECT_EQ(again.response().body, "hello world");
  EXPECT_EQ(http.connections_opened(), 1u);
}

TEST(HttpClient, BufferedBodyOverTheLimitIsAnError) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, std::string(5000, 'x')));
  };
  HttpConnection http(loop, url(server.origin()), nullptr, {.max_buffered_body = 1000});
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.kind(), ErrorKind::Protocol);
  EXPECT_EQ(outcome.detail(), "response body too large");
  ASSERT_TRUE(run_until(loop, [&] { return server.peers[0]->ended; }));
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, "small"));
  };
  Outcome next;
  http.request(get("/"), next.callback());
  ASSERT_TRUE(run_until(loop, [&] { return next.calls > 0; }));
  ASSERT_TRUE(next.ok()) << next.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
}

TEST(HttpClient, StreamsTwentyMebibytesWithBackpressure) {
  constexpr size_t kTotal = 20 * 1024 * 1024;
  constexpr size_t kPiece = 1024 * 1024;
  Loop loop;
  FakeHttpServer server(loop);
  // Made before the loop runs: making it inside a callback would stall the loop (under
  // valgrind, for longer than the request timeout).
  std::vector<std::string> pieces;
  for (size_t offset = 0; offset < kTotal; offset += kPiece) pieces.push_back(pattern(offset, kPiece));
  server.respond = [&](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n");
    for (const std::string& piece : pieces) peer.send(piece);
  };
  // A short request timeout: it must not fire while the caller holds the body back.
  HttpConnection http(loop, url(server.origin()), nullptr, {.request_timeout_ms = 500});
  StreamOutcome sink;
  sink.keep_body = false;
  sink.check_pattern = true;
  bool paused = false;
  Timer resume_later(loop);
  int pauses_inside = 0;
  uint64_t next_pause = 6 * kPiece;
  sink.on_body_hook = [&](std::string_view) {
    if (!paused && sink.bytes >= kPiece) {
      paused = true;  // the first pause: held by the test below
      http.pause();
    } else if (paused && sink.bytes >= next_pause) {
      // Then now and then from inside the callback, resumed from the loop a little later:
      // the rest of the read waits in the client until then.
      next_pause += 4 * kPiece;
      ++pauses_inside;
      http.pause();
      resume_later.start(5, [&] { http.resume(); });
    }
    return true;
  };
  http.request_streaming(get("/blob"), sink, sink.callback());
  ASSERT_TRUE(run_until(
      loop, [&] { return paused || sink.calls > 0; }, 30'000));
  ASSERT_TRUE(paused) << sink.detail();
  const uint64_t held = sink.bytes;
  run_for(loop, 1'100);  // over twice the request timeout
  EXPECT_EQ(sink.bytes, held);
  EXPECT_EQ(sink.calls, 0) << sink.detail();
  ASSERT_EQ(server.peers.size(), 1u);
  // The rest waits at the server, not in the client's memory.
  EXPECT_GT(server.peers[0]->queued(), kTotal / 2);
  http.resume();
  ASSERT_TRUE(run_until(
      loop, [&] { return sink.calls > 0; }, 120'000));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.heads, 1);
  EXPECT_EQ(sink.bytes, kTotal);
  EXPECT_TRUE(sink.in_order);
  EXPECT_GT(pauses_inside, 2);
  EXPECT_EQ(server.peers[0]->queued(), 0u);
}

TEST(HttpClient, PausingOnEveryChunkKeepsTheRestInOrder) {
  constexpr size_t kChunks = 2000;
  constexpr size_t kChunkSize = 100;
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [&](FakeHttpServer::Peer& peer, const std::string&) {
    // Many chunks per read: pausing in one leaves the others waiting in the client.
    std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t i = 0; i < kChunks; ++i) wire += "64\r\n" + pattern(i * kChunkSize, kChunkSize) + "\r\n";
    peer.send(wire + "0\r\n\r\n");
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  StreamOutcome sink;
  sink.keep_body = false;
  sink.check_pattern = true;
  Timer resume_later(loop);
  int resumes = 0;
  bool inside_resume = false;
  sink.on_body_hook = [&](std::string_view) {
    EXPECT_FALSE(inside_resume) << "a callback inside resume()";
    http.pause();
    resume_later.start(0, [&] {
      ++resumes;
      inside_resume = true;
      http.resume();
      inside_resume = false;
    });
    return true;
  };
  http.request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(
      loop, [&] { return sink.calls > 0; }, 60'000));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.bytes, kChunks * kChunkSize);
  EXPECT_TRUE(sink.in_order);
  EXPECT_GE(sink.chunks, static_cast<int>(kChunks));
  EXPECT_GE(resumes, static_cast<int>(kChunks) - 1);
  // And the connection is still good for the next request.
  Outcome next;
  http.request(get("/"), next.callback());
  ASSERT_TRUE(run_until(loop, [&] { return next.calls > 0; }));
  EXPECT_TRUE(next.ok()) << next.detail();
  EXPECT_EQ(http.connections_opened(), 1u);
}

TEST(HttpClient, PausedBeforeTheBodyHoldsItUntilResumed) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    // Delimited by the close, which comes at once: the end waits behind the held bytes.
    peer.send("HTTP/1.0 200 OK\r\n\r\n" + pattern(0, 10'000));
    peer.end();
  };
  HttpConnection http(loop, url(server.origin()), nullptr, {.request_timeout_ms = 50});
  StreamOutcome sink;
  sink.on_head_hook = [&] { http.pause(); };
  http.request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return sink.heads > 0; }));
  run_for(loop, 150);
  EXPECT_EQ(sink.bytes, 0u);
  EXPECT_EQ(sink.calls, 0) << sink.detail();
  http.resume();
  EXPECT_EQ(sink.bytes, 0u);  // from the loop, not inside resume()
  ASSERT_TRUE(run_until(loop, [&] { return sink.calls > 0; }));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.body, pattern(0, 10'000));
}

TEST(HttpClient, PausedInTheLastChunkStillCompletes) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, "all of it"));
  };
  HttpConnection http(loop, url(server.origin()), nullptr, {.request_timeout_ms = 200});
  StreamOutcome sink;
  Timer resume_later(loop);
  sink.on_body_hook = [&](std::string_view) {
    http.pause();
    resume_later.start(20, [&] { http.resume(); });
    return true;
  };
  http.request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return sink.calls > 0; }));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.body, "all of it");
  // Paused and resumed inside the same callback: the request goes on as if nothing happened.
  sink = {};
  sink.on_body_hook = [&](std::string_view) {
    http.pause();
    http.resume();
    return true;
  };
  http.request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return sink.calls > 0; }));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.body, "all of it");
  EXPECT_EQ(http.connections_opened(), 1u);
}

TEST(HttpClient, PausedBeforeTheResponseArrives) {
  Loop loop;
  FakeHttpServer server(loop);
  HttpConnection http(loop, url(server.origin()), nullptr, {.request_timeout_ms = 50});
  StreamOutcome sink;
  http.request_streaming(get("/"), sink, sink.callback());
  http.pause();
  ASSERT_TRUE(run_until(loop, [&] { return server.requests.size() == 1; }));
  run_for(loop, 150);
  EXPECT_EQ(sink.heads, 0);
  EXPECT_EQ(sink.calls, 0);
  http.resume();
  ASSERT_TRUE(run_until(loop, [&] { return sink.calls > 0; }));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.body, "ok");
}

TEST(HttpClient, SinkAbortCompletesAndDropsTheConnection) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, pattern(0, 2 * 1024 * 1024)));
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  StreamOutcome sink;
  sink.on_body_hook = [](std::string_view) { return false; };
  http.request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return sink.calls > 0; }));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.chunks, 1);
  EXPECT_EQ(sink.body, pattern(0, sink.body.size()));
  ASSERT_TRUE(run_until(loop, [&] { return server.peers[0]->ended; }));

  Outcome next;
  http.request(get("/"), next.callback());
  ASSERT_TRUE(run_until(loop, [&] { return next.calls > 0; }));
  ASSERT_TRUE(next.ok()) << next.detail();
  EXPECT_EQ(http.connections_opened(), 2u);
  EXPECT_EQ(sink.calls, 1);
}

TEST(HttpClient, StreamingDeliversHeadOnceAndErrorStatusesToo) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nnope\r\n0\r\n\r\n");
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  StreamOutcome sink;
  http.request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return sink.calls > 0; }));
  ASSERT_TRUE(sink.ok()) << sink.detail();
  EXPECT_EQ(sink.heads, 1);
  EXPECT_EQ(sink.head.status, 404);
  EXPECT_EQ(sink.body, "nope");
}

TEST(HttpClient, ServerClosingMidBodyIsATemporaryErrorWithTheCounts) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(1234, 'x'));
    peer.end();
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.kind(), ErrorKind::Temporary);
  EXPECT_EQ(outcome.detail(), "connection closed after 1234 of 5000 body bytes");

  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789");
    peer.end();
  };
  StreamOutcome sink;
  http.request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return sink.calls > 0; }));
  EXPECT_FALSE(sink.ok());
  EXPECT_EQ(sink.status->error().kind, ErrorKind::Temporary);
  EXPECT_NE(sink.detail().find("mid chunked body"), std::string::npos) << sink.detail();
  EXPECT_EQ(sink.body, "0123456789");
}

TEST(HttpClient, GarbageResponseIsAProtocolError) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n");
  };
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.kind(), ErrorKind::Protocol);
  EXPECT_TRUE(outcome.detail().starts_with("malformed HTTP response: ")) << outcome.detail();
  ASSERT_TRUE(run_until(loop, [&] { return server.peers[0]->ended; }));

  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send("HTTP/1.1 200 OK\r\nX-Huge: " + std::string(100 * 1024, 'h') + "\r\n\r\n");
  };
  Outcome huge;
  http.request(get("/"), huge.callback());
  ASSERT_TRUE(run_until(loop, [&] { return huge.calls > 0; }));
  EXPECT_EQ(huge.kind(), ErrorKind::Protocol);
  EXPECT_EQ(huge.detail(), "response headers too large");
}

TEST(HttpClient, SilentServerTimesOut) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer&, const std::string&) {};
  HttpConnection http(loop, url(server.origin()), nullptr, {.request_timeout_ms = 100});
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(
      loop, [&] { return outcome.calls > 0; }, 5'000));
  EXPECT_EQ(outcome.kind(), ErrorKind::Temporary);
  EXPECT_EQ(outcome.detail(), "HTTP request timed out");
  ASSERT_TRUE(run_until(loop, [&] { return server.peers[0]->ended; }));
}

TEST(HttpClient, ProgressKeepsTheRequestAlive) {
  Loop loop;
  FakeHttpServer server(loop);
  Timer drip(loop);
  int sent = 0;
  std::function<void()> send_next;
  FakeHttpServer::Peer* peer = nullptr;
  send_next = [&] {
    peer->send(std::string(1, 'a' + sent));
    if (++sent < 6) drip.start(60, send_next);
  };
  server.respond = [&](FakeHttpServer::Peer& p, const std::string&) {
    peer = &p;
    p.send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n");
    drip.start(60, send_next);
  };
  HttpConnection http(loop, url(server.origin()), nullptr, {.request_timeout_ms = 150});
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(
      loop, [&] { return outcome.calls > 0; }, 5'000));
  ASSERT_TRUE(outcome.ok()) << outcome.detail();
  EXPECT_EQ(outcome.response().body, "abcdef");
}

TEST(HttpClient, ConnectionRefusedIsTemporary) {
  Loop loop;
  uint16_t port = 0;
  {
    FakeHttpServer closed(loop);
    port = closed.port();
  }
  run_for(loop, 10);
  HttpConnection http(loop, url("http://127.0.0.1:" + std::to_string(port) + "/"), nullptr);
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  EXPECT_EQ(outcome.calls, 0);
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.kind(), ErrorKind::Temporary);
  EXPECT_NE(outcome.detail().find("refused"), std::string::npos) << outcome.detail();
  EXPECT_EQ(http.connections_opened(), 0u);
}

TEST(HttpClient, InvalidRequestsFailLaterWithoutTheirValues) {
  Loop loop;
  HttpConnection http(loop, url("http://127.0.0.1:9/"), nullptr);
  Outcome bad_value, bad_target, bad_method;
  HttpRequest request = get("/");
  request.headers.emplace_back("Authorization", "Bearer secret\r\nX-Injected: 1");
  request.sensitive = true;
  http.request(std::move(request), bad_value.callback());
  http.request(get("/a b"), bad_target.callback());
  HttpRequest method = get("/");
  method.method = "GET /";
  http.request(std::move(method), bad_method.callback());
  EXPECT_EQ(bad_value.calls + bad_target.calls + bad_method.calls, 0);
  ASSERT_TRUE(run_until(loop, [&] { return bad_value.calls && bad_target.calls && bad_method.calls; }));
  EXPECT_EQ(bad_value.kind(), ErrorKind::Internal);
  EXPECT_EQ(bad_value.detail().find("secret"), std::string::npos) << bad_value.detail();
  EXPECT_NE(bad_value.detail().find("Authorization"), std::string::npos);
  EXPECT_EQ(bad_target.kind(), ErrorKind::Internal);
  EXPECT_EQ(bad_method.kind(), ErrorKind::Internal);
  EXPECT_EQ(http.connections_opened(), 0u);
}

TEST(HttpClient, SecondRequestWhileOneIsInFlightFails) {
  Loop loop;
  FakeHttpServer server(loop);
  HttpConnection http(loop, url(server.origin()), nullptr);
  Outcome first, second;
  http.request(get("/"), first.callback());
  http.request(get("/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0 && second.calls > 0; }));
  EXPECT_TRUE(first.ok()) << first.detail();
  EXPECT_EQ(second.kind(), ErrorKind::Internal);
}

// --- The owner destroys the connection at every point: no callback, no crash. ---

TEST(HttpClient, DestroyedInsideOnBody) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, std::string(300 * 1024, 'b')));
  };
  auto http = std::make_unique<HttpConnection>(loop, url(server.origin()), nullptr);
  StreamOutcome sink;
  sink.on_body_hook = [&](std::string_view) {
    http.reset();
    return true;
  };
  http->request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return !http; }));
  ASSERT_TRUE(run_until(loop, [&] { return server.peers[0]->ended; }));
  run_for(loop, 20);
  EXPECT_EQ(sink.chunks, 1);
  EXPECT_EQ(sink.calls, 0);
}

TEST(HttpClient, DestroyedInsideOnHead) {
  Loop loop;
  FakeHttpServer server(loop);
  auto http = std::make_unique<HttpConnection>(loop, url(server.origin()), nullptr);
  StreamOutcome sink;
  sink.on_head_hook = [&] { http.reset(); };
  http->request_streaming(get("/"), sink, sink.callback());
  ASSERT_TRUE(run_until(loop, [&] { return !http; }));
  run_for(loop, 20);
  EXPECT_EQ(sink.heads, 1);
  EXPECT_EQ(sink.chunks, 0);
  EXPECT_EQ(sink.calls, 0);
}

TEST(HttpClient, DestroyedInsideTheDoneCallback) {
  Loop loop;
  FakeHttpServer server(loop);
  for (bool close : {false, true}) {
    server.respond = [close](FakeHttpServer::Peer& peer, const std::string&) {
      peer.send(http_response(200, "ok", close ? "Connection: close\r\n" : ""));
    };
    auto http = std::make_unique<HttpConnection>(loop, url(server.origin()), nullptr);
    int calls = 0;
    http->request(get("/"), [&](Result<HttpResponse> result) {
      ++calls;
      EXPECT_TRUE(result.ok());
      http.reset();
    });
    ASSERT_TRUE(run_until(loop, [&] { return calls > 0; }));
    run_for(loop, 20);
    EXPECT_EQ(calls, 1);
  }
  // After an error, and from a stream's done.
  auto http = std::make_unique<HttpConnection>(loop, url(server.origin()), nullptr);
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) { peer.send("garbage\r\n\r\n"); };
  StreamOutcome sink;
  int calls = 0;
  http->request_streaming(get("/"), sink, [&](Status) {
    ++calls;
    http.reset();
  });
  ASSERT_TRUE(run_until(loop, [&] { return calls > 0; }));
  run_for(loop, 20);
  EXPECT_EQ(calls, 1);
}

TEST(HttpClient, DestroyedWhileConnecting) {
  Loop loop;
  FakeHttpServer server(loop);
  for (const std::string& host : {std::string("127.0.0.1"), std::string("localhost")}) {
    auto http = std::make_unique<HttpConnection>(
        loop, url("http://" + host + ":" + std::to_string(server.port()) + "/"), nullptr);
    Outcome outcome;
    http->request(get("/"), outcome.callback());
    http.reset();
    run_for(loop, 50);
    EXPECT_EQ(outcome.calls, 0);
  }
  // A failure already deferred is dropped too.
  auto http = std::make_unique<HttpConnection>(loop, url(server.origin()), nullptr);
  Outcome invalid;
  http->request(get("no-slash"), invalid.callback());
  http.reset();
  run_for(loop, 20);
  EXPECT_EQ(invalid.calls, 0);
}

TEST(HttpClient, DestroyedWhileWaitingForTheResponse) {
  Loop loop;
  FakeHttpServer server(loop);
  server.respond = [](FakeHttpServer::Peer&, const std::string&) {};
  auto http = std::make_unique<HttpConnection>(loop, url(server.origin()), nullptr,
                                               HttpOptions{.request_timeout_ms = 30});
  Outcome outcome;
  http->request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return server.requests.size() == 1; }));
  http.reset();
  ASSERT_TRUE(run_until(loop, [&] { return server.peers[0]->ended; }));
  run_for(loop, 60);
  EXPECT_EQ(outcome.calls, 0);
}

// --- https, against the same fake behind TlsTransport::accept. ---

std::shared_ptr<TlsClientContext> client_context(const std::string& ca_file) {
  Result<std::shared_ptr<TlsClientContext>> result = TlsClientContext::create({.ca_file = ca_file});
  if (!result.ok()) {
    ADD_FAILURE() << result.error().detail;
    return nullptr;
  }
  return std::move(result).value();
}

TEST(HttpClient, HttpsVerifiesTheOriginAndKeepsAlive) {
  const testing::TestCertificates& certs = testing::test_certificates();
  if (!certs.error.empty())
    GTEST_SKIP() << "no test certificates (openssl command line missing?): " << certs.error;
  Loop loop;
  Result<std::shared_ptr<TlsServerContext>> server_ctx =
      TlsServerContext::load(certs.server_cert, certs.server_key);
  ASSERT_TRUE(server_ctx.ok()) << server_ctx.error().detail;
  FakeHttpServer server(loop, server_ctx.value());
  server.respond = [](FakeHttpServer::Peer& peer, const std::string&) {
    peer.send(http_response(200, "secret mail", "Connection: Upgrade\r\nUpgrade: h2c\r\n"));
  };
  std::shared_ptr<TlsClientContext> tls = client_context(certs.ca_cert);
  ASSERT_TRUE(tls);
  HttpConnection http(loop, url(server.origin("https", "localhost")), tls);
  Outcome first, second;
  http.request(get("/jmap/"), first.callback());
  ASSERT_TRUE(run_until(loop, [&] { return first.calls > 0; }));
  ASSERT_TRUE(first.ok()) << first.detail();
  EXPECT_EQ(first.response().body, "secret mail");
  http.request(get("/jmap/"), second.callback());
  ASSERT_TRUE(run_until(loop, [&] { return second.calls > 0; }));
  ASSERT_TRUE(second.ok()) << second.detail();
  EXPECT_EQ(http.connections_opened(), 1u);
  EXPECT_EQ(server.requests.at(0),
            "GET /jmap/ HTTP/1.1\r\nHost: localhost:" + std::to_string(server.port()) + "\r\n\r\n");

  // A certificate for another name fails the handshake: Temporary, saying why.
  Result<std::shared_ptr<TlsServerContext>> wrong_ctx =
      TlsServerContext::load(certs.wrong_host_cert, certs.wrong_host_key);
  ASSERT_TRUE(wrong_ctx.ok()) << wrong_ctx.error().detail;
  FakeHttpServer wrong_server(loop, wrong_ctx.value());
  HttpConnection wrong(loop, url(wrong_server.origin("https", "localhost")), tls);
  Outcome mismatch;
  wrong.request(get("/"), mismatch.callback());
  ASSERT_TRUE(run_until(loop, [&] { return mismatch.calls > 0; }));
  EXPECT_EQ(mismatch.kind(), ErrorKind::Temporary);
  EXPECT_NE(mismatch.detail().find("Hostname mismatch"), std::string::npos) << mismatch.detail();
  EXPECT_TRUE(wrong_server.requests.empty());
}

TEST(HttpClient, HttpsDestroyedDuringTheHandshake) {
  const testing::TestCertificates& certs = testing::test_certificates();
  if (!certs.error.empty())
    GTEST_SKIP() << "no test certificates (openssl command line missing?): " << certs.error;
  Loop loop;
  FakeHttpServer silent(loop);  // plain TCP: the ClientHello is never answered
  std::shared_ptr<TlsClientContext> tls = client_context(certs.ca_cert);
  ASSERT_TRUE(tls);
  auto http = std::make_unique<HttpConnection>(loop, url(silent.origin("https")), tls);
  Outcome outcome;
  http->request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return !silent.peers.empty() && !silent.peers[0]->buffer.empty(); }));
  http.reset();
  ASSERT_TRUE(run_until(loop, [&] { return silent.peers[0]->ended; }));
  run_for(loop, 20);
  EXPECT_EQ(outcome.calls, 0);
}

TEST(HttpClient, HttpsWithoutAContextFails) {
  Loop loop;
  HttpConnection http(loop, url("https://127.0.0.1:9/"), nullptr);
  Outcome outcome;
  http.request(get("/"), outcome.callback());
  ASSERT_TRUE(run_until(loop, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.kind(), ErrorKind::Internal);
}

}  // namespace
}  // namespace popgate::io
