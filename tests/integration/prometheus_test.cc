// A real Prometheus server (Debian's package) scrapes popgate's admin endpoint every second while
// POP3 clients work through popgate in front of Dovecot; its query API must then show exactly what
// they did. The same server loads deploy/monitoring/rules.yml and answers every query of
// deploy/monitoring/grafana-dashboard.json, so the shipped rules and panels are checked against
// real popgate series, not only parsed.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/support/buffered_socket.h"
#include "tests/integration/support/child_process.h"
#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";
// How long Prometheus may take to show a value: a few 1 s scrapes, with room for a slow machine.
constexpr auto kScrapeWait = 20s;

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:port/target over HTTP/1.0: the server closes the connection when done.
HttpResponse http_get(uint16_t port, const std::string& target) {
  BufferedSocket socket(port, 10s);
  socket.write_all("GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  std::string raw;
  if (!socket.wait_for_close(10s, &raw)) throw std::runtime_error("no complete answer to GET " + target);
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12)
    throw std::runtime_error("not HTTP: " + raw.substr(0, 80));
  HttpResponse response;
  response.status = std::stoi(raw.substr(9, 3));
  if (auto end = raw.find("\r\n\r\n"); end != std::string::npos) response.body = raw.substr(end + 4);
  return response;
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

std::string tail(const std::string& text, size_t max = 4000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

// Prometheus with its own configuration and storage in a temporary directory, on a free loopback
// port, scraping one target as job "popgate" every second and evaluating one rule file every
// second. Stopped by PID (ChildProcess) when it goes out of scope.
class PrometheusServer {
 public:
  PrometheusServer(uint16_t target_port, const fs::path& rule_file) : dir_("prometheus") {
    write_file(dir_ / "prometheus.yml",
               "global:\n"
               "  scrape_interval: 1s\n"
               "  scrape_timeout: 1s\n"
               "  evaluation_interval: 1s\n"
               "rule_files:\n"
               "  - " +
                   rule_file.string() +
                   "\n"
                   "scrape_configs:\n"
                   "  - job_name: popgate\n"
                   "    static_configs:\n"
                   "      - targets: ['127.0.0.1:" +
                   std::to_string(target_port) + "']\n");
    std::string failure;
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      SpawnOptions options;
      options.argv = {kPrometheusBinary,
                      "--config.file=" + (dir_ / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir_ / "data").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                      "--web.console.templates=" + (dir_ / "consoles").string(),
                      "--web.console.libraries=" + (dir_ / "console_libraries").string()};
      options.stdout_path = dir_ / "prometheus.stdout";
      options.stderr_path = dir_ / "prometheus.stderr";
      options.working_directory = dir_.path();
      process_ = std::make_unique<ChildProcess>(options);
      if (wait_until_ready(30s)) return;
      failure = process_->running() ? "not ready within 30 s"
                                    : "exited with " + describe_wait_status(process_->stop());
      failure += "; log:\n" + tail(log_text());
      process_->stop();
    }
    throw std::runtime_error("prometheus failed to start: " + failure);
  }

  uint16_t port() const { return port_; }
  std::string log_text() const { return read_file(dir_ / "prometheus.stderr"); }

  // The "data" member of an API answer; throws unless the status is "success".
  Json api(const std::string& target) {
    HttpResponse response = http_get(port_, target);
    Json answer = Json::parse(response.body);
    if (response.status != 200 || answer.value("status", "") != "success") {
      throw std::runtime_error("GET " + target + ": HTTP " + std::to_string(response.status) + " " +
                               response.body);
    }
    return answer["data"];
  }

  // An instant query; the "data" of the answer ({"resultType": ..., "result": [...]}).
  Json query(const std::string& promql) { return api("/api/v1/query?query=" + url_encode(promql)); }

  // The value of a query that yields one sample; nullopt for none (not scraped yet).
  std::optional<double> value(const std::string& promql) {
    Json result = query(promql)["result"];
    if (result.empty()) return std::nullopt;
    if (result.size() != 1)
      throw std::runtime_error(promql + " gave " + std::to_string(result.size()) + " series");
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  // Polls `promql` until it yields `expected` or kScrapeWait passes; returns the last value seen.
  std::optional<double> wait_for_value(const std::string& promql, double expected) {
    const auto deadline = std::chrono::steady_clock::now() + kScrapeWait;
    std::optional<double> seen;
    while (std::chrono::steady_clock::now() < deadline) {
      seen = value(promql);
      if (seen && *seen == expected) break;
      std::this_thread::sleep_for(100ms);
    }
    return seen;
  }

 private:
  bool wait_until_ready(std::chrono::milliseconds timeout) {
    auto alive = [this] { return process_->running(); };
    if (!wait_for_port(port_, timeout, alive)) return false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline && alive()) {
      try {
        if (http_get(port_, "/-/ready").status == 200) return true;
      } catch (const std::exception&) {
        // Not answering HTTP yet.
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// One sample's value in popgate's own exposition text: `series` is the whole name with labels as
// popgate prints them, e.g. popgate_sessions_total{listener="pop3"}.
std::optional<double> exposition_value(const std::string& text, const std::string& series) {
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (line.starts_with(series) && line.size() > series.size() && line[series.size()] == ' ') {
      return std::stod(std::string(line.substr(series.size() + 1)));
    }
    start = end + 1;
  }
  return std::nullopt;
}

// Grafana's variables, as the dashboard would expand them for this test's one target.
std::string expand_dashboard_query(std::string expr) {
  const std::vector<std::pair<std::string, std::string>> variables = {
      {"$__rate_interval", "1m"}, {"$job", "popgate"}, {"$instance", ".+"}};
  for (const auto& [name, value] : variables) {
    for (size_t at = expr.find(name); at != std::string::npos; at = expr.find(name, at + value.size())) {
      expr.replace(at, name.size(), value);
    }
  }
  return expr;
}

class PrometheusScrape : public MailTest {
 protected:
  void TearDown() override {
    if (HasFailure() && prometheus_) {
      std::cerr << "---- prometheus log (tail) ----\n" << tail(prometheus_->log_text()) << "\n";
    }
    MailTest::TearDown();
  }

  // A USER/PASS login as alice, retried while popgate still holds her maildrop for the session
  // before (it lets go just after that session's QUIT).
  std::unique_ptr<Pop3Client> login_alice() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto client = std::make_unique<Pop3Client>(popgate_->port());
      const std::string reply = client->login(kUser, kPassword);
      if (reply.rfind("+OK", 0) == 0) return client;
      if (reply.find("[IN-USE]") == std::string::npos || std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("login refused: " + reply);
      }
      client->command("QUIT");
      std::this_thread::sleep_for(20ms);
    }
  }

  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(PrometheusScrape, PrometheusSeesTheTrafficAndEvaluatesTheShippedRulesAndPanels) {
  ASSERT_TRUE(fs::exists(kPrometheusBinary))
      << "Debian's prometheus package is missing: run scripts/install-deps.sh";
  start_dovecot(make_small_corpus(4));
  const uint16_t admin_port = free_port();
  start_popgate({"--admin", "127.0.0.1:" + std::to_string(admin_port)});
  ASSERT_TRUE(wait_for_port(admin_port, 10s)) << "no admin endpoint on " << admin_port;
  const fs::path source(POPGATE_SOURCE_DIR);
  prometheus_ = std::make_unique<PrometheusServer>(admin_port, source / "deploy/monitoring/rules.yml");

  // Scraped, and from zero, before any POP3 traffic.
  EXPECT_EQ(prometheus_->wait_for_value(R"(up{job="popgate"})", 1), 1.0)
      << "popgate's /metrics was never scraped";
  EXPECT_EQ(prometheus_->value("popgate_messages_retrieved_total"), 0.0);

  // The fixture's readiness checks connected to the POP3 port: sessions counted before the traffic.
  HttpResponse before = http_get(admin_port, "/metrics");
  ASSERT_EQ(before.status, 200);
  const auto sessions_before = exposition_value(before.body, R"(popgate_sessions_total{listener="pop3"})");
  ASSERT_TRUE(sessions_before.has_value()) << before.body.substr(0, 2000);

  // The traffic: a session retrieving two messages; a wrong password; a session retrieving a
  // third and deleting two.
  {
    auto gate = login_alice();
    ASSERT_TRUE(gate->multiline("RETR 1").ok());
    ASSERT_TRUE(gate->multiline("RETR 2").ok());
    ASSERT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
    EXPECT_TRUE(gate->wait_for_close(10s));
  }
  {
    Pop3Client intruder(popgate_->port());
    EXPECT_EQ(intruder.login(kUser, "not the password").substr(0, 11), "-ERR [AUTH]");
    EXPECT_EQ(intruder.command("QUIT").substr(0, 3), "+OK");
    EXPECT_TRUE(intruder.wait_for_close(10s));
  }
  {
    auto gate = login_alice();
    ASSERT_TRUE(gate->multiline("RETR 3").ok());
    ASSERT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
    ASSERT_EQ(gate->command("DELE 2").substr(0, 3), "+OK");
    ASSERT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
    EXPECT_TRUE(gate->wait_for_close(10s));
  }
  ASSERT_EQ(imap_uids().size(), 2u) << "the QUIT did not delete two messages upstream";

  // What Prometheus reports, once a scrape after the traffic has landed.
  EXPECT_EQ(prometheus_->wait_for_value("popgate_messages_retrieved_total", 3), 3.0);
  EXPECT_EQ(prometheus_->wait_for_value("popgate_messages_deleted_total", 2), 2.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_sessions_total{listener="pop3"})", *sessions_before + 3),
            *sessions_before + 3);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_sessions_active{listener="pop3"})", 0), 0.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_commands_total{command="RETR",result="ok"})", 3), 3.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_commands_total{command="DELE",result="ok"})", 2), 2.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_commands_total{command="PASS",result="err"})", 1), 1.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_auth_attempts_total{mechanism="user",result="ok"})", 2),
            2.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_auth_attempts_total{mechanism="user",result="auth"})", 1),
            1.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_upstream_connections_active{adapter="imap"})", 0), 0.0);
  EXPECT_EQ(prometheus_->wait_for_value(R"(popgate_command_duration_seconds_count{command="RETR"})", 3), 3.0);
  const auto commits = prometheus_->value(
      R"(popgate_upstream_operation_duration_seconds_count{adapter="imap",operation="commit"})");
  EXPECT_TRUE(commits && *commits >= 1) << "no upstream commit observed for the QUIT with deletions";

  // Bytes: the same number popgate itself reports, and at least the three messages sent.
  HttpResponse metrics = http_get(admin_port, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  const auto sent = exposition_value(metrics.body, "popgate_downstream_sent_bytes_total");
  ASSERT_TRUE(sent.has_value()) << metrics.body.substr(0, 2000);
  EXPECT_GE(*sent,
            static_cast<double>(corpus_[0].bytes.size() + corpus_[1].bytes.size() + corpus_[2].bytes.size()));
  EXPECT_EQ(prometheus_->wait_for_value("popgate_downstream_sent_bytes_total", *sent), *sent);

  // The shipped alert rules: each evaluated against these series without an error, none firing.
  Json groups;
  const auto deadline = std::chrono::steady_clock::now() + kScrapeWait;
  for (;;) {
    groups = prometheus_->api("/api/v1/rules")["groups"];
    bool all_evaluated = !groups.empty();
    for (const auto& group : groups) {
      for (const auto& rule : group["rules"])
        all_evaluated = all_evaluated && rule.value("health", "") != "unknown";
    }
    if (all_evaluated || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(100ms);
  }
  size_t rules = 0;
  for (const auto& group : groups) {
    for (const auto& rule : group["rules"]) {
      ++rules;
      EXPECT_EQ(rule.value("health", ""), "ok")
          << rule.value("name", "") << ": " << rule.value("lastError", "");
      EXPECT_NE(rule.value("state", ""), "firing") << rule.value("name", "") << " fires on a healthy popgate";
    }
  }
  EXPECT_GE(rules, 4u) << "rules.yml was not loaded: " << groups.dump();

  // The dashboard: its variables find this job, and every panel's query returns series.
  Json job_values = prometheus_->api("/api/v1/label/job/values?match[]=popgate_build_info");
  EXPECT_NE(std::find(job_values.begin(), job_values.end(), "popgate"), job_values.end())
      << job_values.dump();
  const Json dashboard = Json::parse(read_file(source / "deploy/monitoring/grafana-dashboard.json"));
  size_t queries = 0;
  for (const auto& panel : dashboard["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const auto& target : panel["targets"]) {
      ++queries;
      const std::string expr = expand_dashboard_query(target["expr"].get<std::string>());
      Json result;
      try {
        result = prometheus_->query(expr)["result"];
      } catch (const std::exception& e) {
        ADD_FAILURE() << "panel " << panel["title"] << ": " << e.what();
        continue;
      }
      EXPECT_FALSE(result.empty()) << "panel " << panel["title"] << " shows nothing: " << expr;
      if (panel["title"] == "Messages per second" && target["legendFormat"] == "retrieved" &&
          !result.empty()) {
        EXPECT_GT(std::stod(result[0]["value"][1].get<std::string>()), 0.0)
            << "no RETR in the last minute? " << expr;
      }
    }
  }
  EXPECT_GE(queries, 10u);
}

}  // namespace
}  // namespace popgate::integration
