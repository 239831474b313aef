// The admin endpoint of a real popgate in front of a real Dovecot: /metrics after real sessions,
// /readyz following the upstream and the drain, and what the binary links for it.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "tests/integration/support/buffered_socket.h"
#include "tests/integration/support/child_process.h"
#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"
#include "tests/unit/gateway/prometheus_text.h"

namespace popgate::integration {
namespace {

using popgate::testing::parse_prometheus_text;
using popgate::testing::PrometheusText;
using namespace std::chrono_literals;

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection refused, closed early)
  std::string head;
  std::string body;
};

// One blocking HTTP/1.1 GET with "Connection: close", read to the end.
HttpAnswer http_get(uint16_t port, std::string_view target) {
  HttpAnswer answer;
  try {
    BufferedSocket socket(port, 10s);
    socket.write_all("GET " + std::string(target) +
                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::string all;
    char buffer[16384];
    for (size_t n; (n = socket.read_some(buffer, sizeof(buffer))) > 0;) all.append(buffer, n);
    const size_t end_of_head = all.find("\r\n\r\n");
    if (!all.starts_with("HTTP/1.1 ") || end_of_head == std::string::npos) return answer;
    answer.status = std::stoi(all.substr(9, 3));
    answer.head = all.substr(0, end_of_head);
    answer.body = all.substr(end_of_head + 4);
  } catch (const std::exception&) {
    answer.status = 0;
  }
  return answer;
}

// Polls `target` until its status is `status` or `timeout` passes; returns the last answer.
HttpAnswer poll_until_status(uint16_t port, std::string_view target, int status,
                             std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  HttpAnswer answer = http_get(port, target);
  while (answer.status != status && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // a polling interval, not a wait for readiness
    answer = http_get(port, target);
  }
  return answer;
}

class MetricsEndpointTest : public MailTest {
 protected:
  void start(std::vector<std::string> args = {}) {
    start_dovecot(make_small_corpus(3));
    admin_port_ = free_port();
    args.insert(args.begin(),
                {"--admin", "127.0.0.1:" + std::to_string(admin_port_), "--readiness-probe-interval", "0.2"});
    start_popgate(std::move(args));
    ASSERT_TRUE(wait_for_port(admin_port_, 10s, [this] { return popgate_->running(); }))
        << popgate_->log_text();
  }

  PrometheusText scrape() {
    HttpAnswer answer = http_get(admin_port_, "/metrics");
    EXPECT_EQ(answer.status, 200);
    EXPECT_NE(answer.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << answer.head;
    PrometheusText text = parse_prometheus_text(answer.body);
    EXPECT_TRUE(text.errors.empty()) << text.errors.front();
    return text;
  }

  // Scrapes until `done` holds for the text (the server finishes a session after its last reply).
  PrometheusText scrape_until(const std::function<bool(const PrometheusText&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    PrometheusText text = scrape();
    while (!done(text) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      text = scrape();
    }
    return text;
  }

  uint16_t admin_port_ = 0;
};

TEST_F(MetricsEndpointTest, CountsWhatRealClientsDid) {
  start();
  // The fixture's wait for the POP3 port was a session too (connect, close): count from here.
  const double sessions_before = scrape_until([](const PrometheusText& t) {
                                   return t.count("popgate_sessions_active", {{"listener", "pop3"}}) == 0;
                                 }).count("popgate_sessions_total", {{"listener", "pop3"}});
  {
    Pop3Client wrong(popgate_->port());
    EXPECT_EQ(wrong.login(kUser, "not-the-password"), "-ERR [AUTH] Authentication failed.");
    EXPECT_EQ(wrong.command("QUIT"), "+OK Logging out.");
  }
  {
    auto client = popgate_login();
    Pop3Response retr = client->multiline("RETR 1");
    ASSERT_TRUE(retr.ok()) << retr.status;
    EXPECT_EQ(dot_unstuff(retr.body), corpus_[0].bytes);
    EXPECT_EQ(client->command("DELE 2"), "+OK Marked to be deleted.");
    EXPECT_EQ(client->command("QUIT"), "+OK Logging out.");
  }
  const PrometheusText text = scrape_until([](const PrometheusText& t) {
    return t.count("popgate_sessions_active", {{"listener", "pop3"}}) == 0 &&
           t.count("popgate_upstream_connections_active", {{"adapter", "imap"}}) == 0;
  });

  for (const char* family :
       {"popgate_build_info", "popgate_sessions_active", "popgate_sessions_total", "popgate_commands_total",
        "popgate_command_duration_seconds", "popgate_upstream_operation_duration_seconds",
        "popgate_upstream_errors_total", "popgate_auth_attempts_total",
        "popgate_downstream_received_bytes_total", "popgate_downstream_sent_bytes_total",
        "popgate_messages_retrieved_total", "popgate_messages_deleted_total", "popgate_tls_handshakes_total",
        "popgate_upstream_connections_active", "popgate_draining", "popgate_config_reloads_total"}) {
    EXPECT_TRUE(text.types.count(family)) << family;
  }
  EXPECT_EQ(text.count("popgate_sessions_total", {{"listener", "pop3"}}) - sessions_before, 2);
  EXPECT_EQ(text.count("popgate_sessions_active", {{"listener", "pop3"}}), 0);
  EXPECT_EQ(text.count("popgate_upstream_connections_active", {{"adapter", "imap"}}), 0);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "RETR"}, {"result", "ok"}}), 1);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "DELE"}, {"result", "ok"}}), 1);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "QUIT"}, {"result", "ok"}}), 2);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "PASS"}, {"result", "err"}}), 1);
  EXPECT_EQ(text.count("popgate_command_duration_seconds_count", {{"command", "RETR"}}), 1);
  EXPECT_GT(text.count("popgate_command_duration_seconds_sum", {{"command", "RETR"}}), 0);
  EXPECT_EQ(text.count("popgate_messages_retrieved_total"), 1);
  EXPECT_EQ(text.count("popgate_messages_deleted_total"), 1);
  EXPECT_EQ(text.count("popgate_auth_attempts_total", {{"mechanism", "user"}, {"result", "ok"}}), 1);
  EXPECT_EQ(text.count("popgate_auth_attempts_total", {{"mechanism", "user"}, {"result", "auth"}}), 1);
  EXPECT_EQ(text.count("popgate_upstream_operation_duration_seconds_count",
                       {{"adapter", "imap"}, {"operation", "open"}}),
            2);
  EXPECT_EQ(text.count("popgate_upstream_operation_duration_seconds_count",
                       {{"adapter", "imap"}, {"operation", "fetch"}}),
            1);
  EXPECT_EQ(text.count("popgate_upstream_operation_duration_seconds_count",
                       {{"adapter", "imap"}, {"operation", "commit"}}),
            1);
  EXPECT_EQ(text.count("popgate_upstream_errors_total",
                       {{"adapter", "imap"}, {"operation", "open"}, {"class", "auth"}}),
            1);
  EXPECT_GT(text.count("popgate_downstream_received_bytes_total"), 0);
  EXPECT_GT(text.count("popgate_downstream_sent_bytes_total"), static_cast<double>(corpus_[0].bytes.size()));
  EXPECT_EQ(text.value("popgate_draining"), 0.0);
  // Dovecot really lost the message the client deleted.
  EXPECT_EQ(imap_uids().size(), 2u);
}

TEST_F(MetricsEndpointTest, ReadinessFollowsTheUpstream) {
  start();
  EXPECT_EQ(http_get(admin_port_, "/healthz").status, 200);
  EXPECT_EQ(poll_until_status(admin_port_, "/readyz", 200, 5s).status, 200);
  EXPECT_EQ(http_get(admin_port_, "/nowhere").status, 404);

  dovecot_->stop();
  const auto stopped = std::chrono::steady_clock::now();
  HttpAnswer answer = poll_until_status(admin_port_, "/readyz", 503, 5s);
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.body, "not ready\n");
  // A couple of probe intervals (0.2 s each), with room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 2s);
  EXPECT_EQ(http_get(admin_port_, "/healthz").status, 200);  // alive, only not ready
  EXPECT_NE(popgate_->log_text().find("upstream_probe"), std::string::npos);
}

TEST_F(MetricsEndpointTest, DrainingIsNotReady) {
  start({"--drain-timeout", "30"});
  ASSERT_EQ(poll_until_status(admin_port_, "/readyz", 200, 5s).status, 200);
  auto client = popgate_login();  // keeps the drain waiting
  popgate_->send_signal(SIGTERM);
  EXPECT_EQ(poll_until_status(admin_port_, "/readyz", 503, 5s).status, 503);
  EXPECT_EQ(scrape().value("popgate_draining"), 1.0);
  EXPECT_EQ(client->command("QUIT"), "+OK Logging out.");
  // The last session gone, popgate closes the admin endpoint too and exits.
  std::optional<int> status = popgate_->wait_for_exit(10s);
  ASSERT_TRUE(status.has_value()) << popgate_->log_text();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

TEST_F(MetricsEndpointTest, GarbageOnTheAdminPortGets400AndTheEndpointGoesOn) {
  start();
  {
    BufferedSocket socket(admin_port_, 10s);
    socket.write_all(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n", 22));
    EXPECT_EQ(socket.read_line_with_ending(), "HTTP/1.1 400 Bad Request\r\n");
    EXPECT_TRUE(socket.wait_for_close(10s));
  }
  EXPECT_EQ(http_get(admin_port_, "/healthz").status, 200);
  auto client = popgate_login();  // POP3 unaffected
  EXPECT_EQ(client->command("QUIT"), "+OK Logging out.");
}

TEST(MetricsLinkage, PopgateLinksPrometheusCoreOnly) {
  SpawnOptions options;
  options.argv = {find_program("ldd"), POPGATE_BINARY};
  const RunResult ldd = run_program(options, std::chrono::seconds(30));
  ASSERT_EQ(ldd.exit_code, 0) << ldd.err;
  EXPECT_NE(ldd.out.find("libprometheus-cpp-core.so"), std::string::npos) << ldd.out;
  for (const char* unwanted : {"libprometheus-cpp-pull", "libprometheus-cpp-push", "libcivetweb", "libcurl",
                               "libssl.so.3", "libcrypto.so.3"}) {
    EXPECT_EQ(ldd.out.find(unwanted), std::string::npos) << unwanted << " in:\n" << ldd.out;
  }
}

}  // namespace
}  // namespace popgate::integration
