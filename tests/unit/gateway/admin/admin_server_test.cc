// AdminServer over real sockets on 127.0.0.1: routes, keep-alive, pipelining, splits and garbage.
#include "gateway/admin/admin_server.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/io/http_response_parser.h"
#include "tests/unit/gateway/io/io_test_support.h"
#include "tests/unit/gateway/prometheus_text.h"

namespace popgate {
namespace {

using io::testing::RecordingHandler;
using io::testing::run_until;

struct Answer {
  int status = 0;
  std::string content_type;
  std::string connection;
  std::string content_length;
  std::string body;
};

// One client connection and the responses it has read so far.
struct AdminClient {
  io::TransportPtr transport;
  RecordingHandler handler;
  std::unique_ptr<io::HttpResponseParser> parser = std::make_unique<io::HttpResponseParser>();
  std::vector<Answer> answers;
  Answer current;
  size_t parsed = 0;  // bytes of handler.data given to the parser
  bool parse_error = false;

  void send(std::string_view bytes) { transport->write(bytes); }
  // Parses what arrived; returns the number of whole answers.
  size_t collect() {
    for (;;) {
      io::HttpResponseStep step = parser->parse(std::string_view(handler.data).substr(parsed));
      parsed += step.consumed;
      if (step.status == io::HttpResponseParseStatus::NeedMore) break;
      if (step.status == io::HttpResponseParseStatus::Error) {
        parse_error = true;
        break;
      }
      if (step.event == io::HttpResponseEvent::Head) {
        const io::HttpResponseHead& head = parser->head();
        current.status = head.status;
        current.content_type = std::string(head.header("Content-Type").value_or(""));
        current.connection = std::string(head.header("Connection").value_or(""));
        current.content_length = std::string(head.header("Content-Length").value_or(""));
      } else if (step.event == io::HttpResponseEvent::Body) {
        current.body.append(step.body);
      } else if (step.event == io::HttpResponseEvent::MessageComplete) {
        answers.push_back(std::move(current));
        current = {};
      }
    }
    return answers.size();
  }
};

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(AdminServer::Options options) {
    server_.reset();
    auto started = AdminServer::start(
        loop_, io::testing::loopback_address(), metrics_, [this] { return ready_; }, options);
    ASSERT_TRUE(started.ok()) << started.error().detail;
    server_ = std::move(started).value();
  }

  std::unique_ptr<AdminClient> connect() {
    auto client = std::make_unique<AdminClient>();
    bool done = false;
    auto operation = io::connect_tcp(loop_, "127.0.0.1", server_->local_address().port(), 5'000,
                                     [&](Result<io::TransportPtr> result) {
                                       done = true;
                                       if (result) client->transport = std::move(result).value();
                                     });
    EXPECT_TRUE(run_until(loop_, [&] { return done; }));
    EXPECT_NE(client->transport, nullptr);
    if (client->transport) {
      client->transport->set_handler(&client->handler);
      client->transport->start_reading();
    }
    return client;
  }

  // Sends `request` on a new connection and waits for `count` answers.
  std::vector<Answer> exchange(AdminClient& client, std::string_view request, size_t count = 1) {
    client.send(request);
    EXPECT_TRUE(run_until(loop_, [&] { return client.collect() >= count || client.parse_error; }))
        << "got: " << client.handler.data;
    EXPECT_FALSE(client.parse_error) << client.handler.data;
    return client.answers;
  }

  Answer get(std::string_view target) {
    auto client = connect();
    auto answers = exchange(*client, "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return answers.empty() ? Answer{} : answers[0];
  }

  bool closed(AdminClient& client) {
    return run_until(loop_, [&] { return client.handler.ends > 0; });
  }

  Metrics metrics_;
  io::Loop loop_;
  bool ready_ = true;
  AdminServerPtr server_;
};

TEST_F(AdminServerTest, MetricsAreTheTextExpositionOfEveryFamily) {
  metrics_.messages_deleted(7);
  Answer answer = get("/metrics");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const testing::PrometheusText text = testing::parse_prometheus_text(answer.body);
  EXPECT_TRUE(text.errors.empty()) << text.errors.front();
  for (const char* family :
       {"popgate_build_info", "popgate_sessions_active", "popgate_sessions_total", "popgate_commands_total",
        "popgate_command_duration_seconds", "popgate_upstream_operation_duration_seconds",
        "popgate_upstream_errors_total", "popgate_auth_attempts_total",
        "popgate_downstream_received_bytes_total", "popgate_downstream_sent_bytes_total",
        "popgate_messages_retrieved_total", "popgate_messages_deleted_total", "popgate_tls_handshakes_total",
        "popgate_upstream_connections_active", "popgate_draining", "popgate_config_reloads_total"}) {
    EXPECT_TRUE(text.types.count(family)) << "no # TYPE line for " << family;
    EXPECT_GT(text.samples_of(family), 0u) << family;
  }
  EXPECT_EQ(text.types.at("popgate_command_duration_seconds"), "histogram");
  EXPECT_EQ(text.types.at("popgate_sessions_total"), "counter");
  EXPECT_EQ(text.types.at("popgate_sessions_active"), "gauge");
  EXPECT_EQ(text.value("popgate_messages_deleted_total"), 7.0);
}

TEST_F(AdminServerTest, HealthzAndReadyzFollowTheReadyFunction) {
  Answer health = get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(get("/readyz").status, 200);
  ready_ = false;
  Answer not_ready = get("/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, "not ready\n");
  EXPECT_EQ(get("/healthz").status, 200);  // alive, just not ready
  ready_ = true;
  EXPECT_EQ(get("/readyz?verbose=1").status, 200);
}

TEST_F(AdminServerTest, OtherPathsAre404AndOtherMethods405) {
  EXPECT_EQ(get("/").status, 404);
  EXPECT_EQ(get("/metrics/").status, 404);
  EXPECT_EQ(get("/healthzz").status, 404);
  auto client = connect();
  auto answers = exchange(*client, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 405);
  // The body was skipped: the connection still serves.
  answers = exchange(*client, "GET /healthz HTTP/1.1\r\n\r\n", 2);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[1].status, 200);
}

TEST_F(AdminServerTest, HeadHasTheLengthButNoBody) {
  auto client = connect();
  client->parser->expect_head_response();
  auto answers = exchange(*client, "HEAD /healthz HTTP/1.1\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[0].content_length, "3");
  EXPECT_EQ(answers[0].body, "");
}

TEST_F(AdminServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  auto client = connect();
  for (size_t i = 1; i <= 5; ++i) {
    auto answers = exchange(*client, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", i);
    ASSERT_EQ(answers.size(), i);
    EXPECT_EQ(answers.back().status, 200);
    EXPECT_EQ(answers.back().connection, "");
  }
  EXPECT_EQ(client->handler.ends, 0);
  EXPECT_EQ(server_->connections(), 1u);
}

TEST_F(AdminServerTest, ConnectionCloseAndHttp10CloseAfterTheAnswer) {
  auto client = connect();
  auto answers = exchange(*client, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].connection, "close");
  EXPECT_TRUE(closed(*client));
  auto old = connect();
  answers = exchange(*old, "GET /healthz HTTP/1.0\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_TRUE(closed(*old));
}

TEST_F(AdminServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto client = connect();
  ready_ = false;
  auto answers =
      exchange(*client,
               "GET /healthz HTTP/1.1\r\n\r\nGET /readyz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
               "GET /metrics HTTP/1.1\r\n\r\n",
               4);
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[1].status, 503);
  EXPECT_EQ(answers[2].status, 404);
  EXPECT_EQ(answers[3].status, 200);
  EXPECT_NE(answers[3].body.find("# TYPE popgate_sessions_total counter"), std::string::npos);
}

TEST_F(AdminServerTest, ARequestSplitByteByByteIsAnsweredOnce) {
  auto client = connect();
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
  for (size_t i = 0; i + 1 < request.size(); ++i) {
    client->send(request.substr(i, 1));
    io::testing::run_for(loop_, 1);
    ASSERT_EQ(client->collect(), 0u) << "answered after " << i + 1 << " bytes";
  }
  client->send(request.substr(request.size() - 1));
  ASSERT_TRUE(run_until(loop_, [&] { return client->collect() == 1; }));
  EXPECT_EQ(client->answers[0].status, 200);
}

TEST_F(AdminServerTest, MalformedInputGets400AndCloseAndTheServerGoesOn) {
  for (std::string_view garbage :
       {std::string_view("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
        std::string_view("HELLO WORLD\r\n\r\n"), std::string_view("GET / HTTP/1.1\r\nNo colon here\r\n\r\n"),
        std::string_view("GET /healthz HTTP/1.1\r\n\r\n\x01\x02garbage\r\n\r\n")}) {
    auto client = connect();
    client->send(garbage);
    ASSERT_TRUE(run_until(loop_, [&] { return client->handler.ends > 0; })) << garbage;
    client->collect();
    ASSERT_FALSE(client->answers.empty()) << garbage;
    EXPECT_EQ(client->answers.back().status, 400) << garbage;
    EXPECT_EQ(client->answers.back().connection, "close");
  }
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_TRUE(run_until(loop_, [&] { return server_->connections() <= 1; }));
}

TEST_F(AdminServerTest, OversizedRequestsAreRefused) {
  auto client = connect();
  client->send("GET /healthz HTTP/1.1\r\nX-Padding: " + std::string(9000, 'a') + "\r\n\r\n");
  ASSERT_TRUE(closed(*client));
  client->collect();
  ASSERT_EQ(client->answers.size(), 1u);
  EXPECT_EQ(client->answers[0].status, 431);

  auto body = connect();
  body->send("POST /x HTTP/1.1\r\nContent-Length: 20000\r\n\r\n" + std::string(20000, 'b'));
  ASSERT_TRUE(closed(*body));
  body->collect();
  ASSERT_FALSE(body->answers.empty());
  EXPECT_EQ(body->answers.back().status, 413);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(AdminServerTest, AnIdleConnectionIsClosed) {
  start({.idle_timeout_ms = 50});
  auto client = connect();
  exchange(*client, "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(closed(*client));
  EXPECT_TRUE(run_until(loop_, [&] { return server_->connections() == 0; }));
  // Half a request does not keep it open either.
  auto slow = connect();
  slow->send("GET /hea");
  EXPECT_TRUE(closed(*slow));
}

TEST_F(AdminServerTest, ConnectionsOverTheCapAreTurnedAway) {
  start({.max_connections = 2});
  auto first = connect();
  auto second = connect();
  ASSERT_TRUE(run_until(loop_, [&] { return server_->connections() == 2; }));
  auto third = connect();
  ASSERT_TRUE(closed(*third));
  third->collect();
  ASSERT_EQ(third->answers.size(), 1u);
  EXPECT_EQ(third->answers[0].status, 503);
  EXPECT_EQ(exchange(*first, "GET /healthz HTTP/1.1\r\n\r\n").at(0).status, 200);
}

TEST_F(AdminServerTest, CloseLetsQueuedAnswersOutAndStopsAccepting) {
  auto client = connect();
  client->send("GET /metrics HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(run_until(loop_, [&] { return !client->handler.data.empty(); }));
  server_->close();
  ASSERT_TRUE(closed(*client));
  EXPECT_EQ(client->collect(), 1u);
  EXPECT_TRUE(run_until(loop_, [&] { return server_->connections() == 0; }));
  bool failed = false;
  auto operation = io::connect_tcp(loop_, "127.0.0.1", server_->local_address().port(), 2'000,
                                   [&](Result<io::TransportPtr> result) { failed = !result.ok(); });
  EXPECT_TRUE(run_until(loop_, [&] { return failed; }));
}

}  // namespace
}  // namespace popgate
