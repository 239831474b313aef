// Metrics: the families and their types, and sessions driven through the fakes moving them.
#include "gateway/admin/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "gateway/io/tls_transport.h"
#include "protocol/sasl/base64.h"
#include "tests/unit/gateway/prometheus_text.h"
#include "tests/unit/gateway/session/session_fakes.h"

namespace popgate {
namespace {

using testing::parse_prometheus_text;
using testing::PrometheusText;

const std::map<std::string, std::string> kFamilies = {
    {"popgate_build_info", "gauge"},
    {"popgate_sessions_active", "gauge"},
    {"popgate_sessions_total", "counter"},
    {"popgate_commands_total", "counter"},
    {"popgate_command_duration_seconds", "histogram"},
    {"popgate_upstream_operation_duration_seconds", "histogram"},
    {"popgate_upstream_errors_total", "counter"},
    {"popgate_auth_attempts_total", "counter"},
    {"popgate_downstream_received_bytes_total", "counter"},
    {"popgate_downstream_sent_bytes_total", "counter"},
    {"popgate_messages_retrieved_total", "counter"},
    {"popgate_messages_deleted_total", "counter"},
    {"popgate_tls_handshakes_total", "counter"},
    {"popgate_upstream_connections_active", "gauge"},
    {"popgate_draining", "gauge"},
    {"popgate_config_reloads_total", "counter"},
    {"popgate_connections_rejected_total", "counter"},
    {"popgate_oauth_token_refreshes_total", "counter"},
    {"popgate_upstream_throttled_total", "counter"},
    {"popgate_upstream_backoff_refusals_total", "counter"},
    {"popgate_upstream_sessions_capped_total", "counter"},
    {"popgate_upstream_reuse_total", "counter"},
    {"popgate_upstream_parked_connections", "gauge"},
    {"popgate_state_store_up", "gauge"},
    {"popgate_state_store_command_duration_seconds", "histogram"},
    {"popgate_state_store_errors_total", "counter"},
    {"popgate_maildrop_lock_refusals_total", "counter"},
    {"popgate_maildrop_lease_losses_total", "counter"},
    {"popgate_maildrop_lease_retakes_total", "counter"},
    {"popgate_maildrop_locks_local_only_total", "counter"},
    {"popgate_oauth_shared_tokens_total", "counter"},
};

TEST(MetricsTest, EveryFamilyIsExportedWithItsTypeAndASample) {
  Metrics metrics;
  const PrometheusText text = parse_prometheus_text(metrics.serialize());
  EXPECT_TRUE(text.errors.empty()) << text.errors.front();
  EXPECT_EQ(text.types, kFamilies);
  for (const auto& [family, type] : kFamilies) EXPECT_GT(text.samples_of(family), 0u) << family;
  EXPECT_EQ(text.value("popgate_build_info", {{"version", POPGATE_VERSION}}), 1.0);
  EXPECT_EQ(text.value("popgate_draining"), 0.0);
  // Label children exist from the start at zero, so a rate() has a series before the first event.
  EXPECT_EQ(text.value("popgate_commands_total", {{"command", "RETR"}, {"result", "ok"}}), 0.0);
  EXPECT_EQ(text.value("popgate_upstream_errors_total",
                       {{"adapter", "jmap"}, {"operation", "commit"}, {"class", "in_use"}}),
            0.0);
  EXPECT_EQ(text.value("popgate_tls_handshakes_total", {{"side", "upstream"}, {"result", "failed"}}), 0.0);
  EXPECT_EQ(text.value("popgate_auth_attempts_total", {{"mechanism", "plain"}, {"result", "in_use"}}), 0.0);
  // The buckets agreed for dashboards, and +Inf.
  EXPECT_EQ(text.value("popgate_command_duration_seconds_bucket", {{"command", "NOOP"}, {"le", "0.0001"}}),
            0.0);
  EXPECT_EQ(text.value("popgate_command_duration_seconds_bucket", {{"command", "NOOP"}, {"le", "60"}}), 0.0);
  EXPECT_EQ(text.value("popgate_command_duration_seconds_bucket", {{"command", "NOOP"}, {"le", "+Inf"}}),
            0.0);
  EXPECT_EQ(text.samples_of("popgate_command_duration_seconds"), 15u * (19 + 2));
}

TEST(MetricsTest, CountersMoveAndUnknownKeywordsCountAsUnknown) {
  Metrics metrics;
  metrics.command_completed("RETR", true, 0.003);
  metrics.command_completed("RETR", false, 0.5);
  metrics.command_completed("XYZZY", false, 0.0);
  metrics.auth_failed(AuthMechanism::Plain, ErrorKind::Protocol);
  metrics.auth_failed(AuthMechanism::User, ErrorKind::InUse);
  metrics.downstream_received(10);
  metrics.downstream_sent(25);
  metrics.messages_deleted(3);
  metrics.tls_handshake(TlsSide::Downstream, false);
  metrics.set_draining(true);
  metrics.config_reloaded(false);
  UpstreamMetrics& imap = metrics.upstream("imap");
  EXPECT_EQ(&imap, &metrics.upstream("imap"));
  imap.observe(UpstreamOperation::Fetch, 0.02);
  imap.error(UpstreamOperation::Fetch, ErrorKind::NotFound);

  const PrometheusText text = parse_prometheus_text(metrics.serialize());
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "RETR"}, {"result", "ok"}}), 1);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "RETR"}, {"result", "err"}}), 1);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "UNKNOWN"}, {"result", "err"}}), 1);
  EXPECT_EQ(text.count("popgate_command_duration_seconds_count", {{"command", "RETR"}}), 2);
  EXPECT_DOUBLE_EQ(text.count("popgate_command_duration_seconds_sum", {{"command", "RETR"}}), 0.503);
  EXPECT_EQ(text.count("popgate_command_duration_seconds_bucket", {{"command", "RETR"}, {"le", "0.005"}}), 1);
  EXPECT_EQ(text.count("popgate_command_duration_seconds_bucket", {{"command", "RETR"}, {"le", "0.5"}}), 2);
  // A failed login is counted by the answer the client got: protocol trouble is [SYS/TEMP].
  EXPECT_EQ(text.count("popgate_auth_attempts_total", {{"mechanism", "plain"}, {"result", "temporary"}}), 1);
  EXPECT_EQ(text.count("popgate_auth_attempts_total", {{"mechanism", "user"}, {"result", "in_use"}}), 1);
  EXPECT_EQ(text.count("popgate_downstream_received_bytes_total"), 10);
  EXPECT_EQ(text.count("popgate_downstream_sent_bytes_total"), 25);
  EXPECT_EQ(text.count("popgate_messages_deleted_total"), 3);
  EXPECT_EQ(text.count("popgate_tls_handshakes_total", {{"side", "downstream"}, {"result", "failed"}}), 1);
  EXPECT_EQ(text.count("popgate_draining"), 1);
  EXPECT_EQ(text.count("popgate_config_reloads_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(text.count("popgate_upstream_operation_duration_seconds_count",
                       {{"adapter", "imap"}, {"operation", "fetch"}}),
            1);
  EXPECT_EQ(text.count("popgate_upstream_errors_total",
                       {{"adapter", "imap"}, {"operation", "fetch"}, {"class", "not_found"}}),
            1);
}

TEST(MetricsTest, GaugeTokensRaiseWhileTheyLiveAndMoveWithoutDoubleCounting) {
  Metrics metrics;
  auto active = [&] {
    return parse_prometheus_text(metrics.serialize())
        .count("popgate_sessions_active", {{"listener", "pop3s"}});
  };
  {
    GaugeToken first = metrics.session_opened(Listener::Pop3s);
    EXPECT_EQ(active(), 1);
    GaugeToken moved = std::move(first);
    EXPECT_FALSE(first);  // NOLINT(bugprone-use-after-move): the moved-from token is empty
    EXPECT_EQ(active(), 1);
    GaugeToken second = metrics.session_opened(Listener::Pop3s);
    EXPECT_EQ(active(), 2);
    second = std::move(moved);  // drops what `second` held
    EXPECT_EQ(active(), 1);
    second.reset();
    second.reset();
    EXPECT_EQ(active(), 0);
  }
  EXPECT_EQ(active(), 0);
  EXPECT_EQ(
      parse_prometheus_text(metrics.serialize()).count("popgate_sessions_total", {{"listener", "pop3s"}}), 2);
}

TEST(MetricsTest, AnotherAdapterKindGetsItsOwnSeries) {
  Metrics metrics;
  GaugeToken connection = metrics.upstream("fake").connection();
  const PrometheusText text = parse_prometheus_text(metrics.serialize());
  EXPECT_EQ(text.value("popgate_upstream_connections_active", {{"adapter", "fake"}}), 1.0);
  EXPECT_EQ(text.value("popgate_upstream_connections_active", {{"adapter", "imap"}}), 0.0);
}

// ---- Sessions driven through the fakes ----

class SessionMetricsTest : public testing::SessionHarness {
 protected:
  SessionMetricsTest() {
    config_->auth_failure_delay_ms = 1;
    upstream_.messages = {
        {{"11", 22, "UIDL-A"}, "Subject: a\r\n\r\nbody one\r\n"},
        {{"12", 33, "UIDL-B"}, "Subject: b\r\n\r\n.leading dot\r\n.\r\n"},
    };
  }

  void TearDown() override {
    // The harness checks that every gauge that counts things is back at zero once they are gone.
    SessionHarness::TearDown();
    const PrometheusText text = scrape();
    EXPECT_EQ(text.count("popgate_downstream_received_bytes_total"),
              static_cast<double>(bytes_from_clients()));
    EXPECT_EQ(text.count("popgate_downstream_sent_bytes_total"), static_cast<double>(bytes_to_clients()));
  }

  PrometheusText scrape() {
    PrometheusText text = parse_prometheus_text(metrics_.serialize());
    EXPECT_TRUE(text.errors.empty());
    return text;
  }

  void login(Client& client, std::string_view user = "alice") {
    read_until(client, "\r\n");  // greeting
    EXPECT_EQ(command(client, "USER " + std::string(user)), "+OK\r\n");
    EXPECT_EQ(command(client, "PASS secret"), "+OK Logged in.\r\n");
  }
};

TEST_F(SessionMetricsTest, ASessionCountsItsCommandsMessagesAndUpstreamOperations) {
  Client& client = connect();
  PrometheusText text = scrape();
  EXPECT_EQ(text.count("popgate_sessions_total", {{"listener", "pop3"}}), 1);
  EXPECT_EQ(text.count("popgate_sessions_active", {{"listener", "pop3"}}), 1);

  login(client);
  command(client, "STAT");
  command(client, "RETR 1", "\r\n.\r\n");
  command(client, "TOP 2 0", "\r\n.\r\n");
  command(client, "RETR 9");
  command(client, "FROB");
  command(client, "DELE 2");
  text = scrape();
  EXPECT_EQ(text.count("popgate_upstream_connections_active", {{"adapter", "fake"}}), 1);
  EXPECT_EQ(command(client, "QUIT"), "+OK Logging out.\r\n");
  ASSERT_TRUE(run_until([&] { return all_finished(); }));

  text = scrape();
  auto commands = [&](const char* keyword, const char* result) {
    return text.count("popgate_commands_total", {{"command", keyword}, {"result", result}});
  };
  EXPECT_EQ(commands("USER", "ok"), 1);
  EXPECT_EQ(commands("PASS", "ok"), 1);
  EXPECT_EQ(commands("STAT", "ok"), 1);
  EXPECT_EQ(commands("RETR", "ok"), 1);
  EXPECT_EQ(commands("RETR", "err"), 1);
  EXPECT_EQ(commands("TOP", "ok"), 1);
  EXPECT_EQ(commands("UNKNOWN", "err"), 1);
  EXPECT_EQ(commands("DELE", "ok"), 1);
  EXPECT_EQ(commands("QUIT", "ok"), 1);
  EXPECT_EQ(text.count("popgate_command_duration_seconds_count", {{"command", "RETR"}}), 2);
  EXPECT_EQ(text.count("popgate_command_duration_seconds_count", {{"command", "PASS"}}), 1);
  // PASS waited for the (fake) upstream's open: its duration is not zero.
  EXPECT_GT(text.count("popgate_command_duration_seconds_sum", {{"command", "PASS"}}), 0);
  EXPECT_EQ(text.count("popgate_auth_attempts_total", {{"mechanism", "user"}, {"result", "ok"}}), 1);
  EXPECT_EQ(text.count("popgate_messages_retrieved_total"), 1);  // TOP is not a retrieval
  EXPECT_EQ(text.count("popgate_messages_deleted_total"), 1);
  for (const char* operation : {"open", "commit"}) {
    EXPECT_EQ(text.count("popgate_upstream_operation_duration_seconds_count",
                         {{"adapter", "fake"}, {"operation", operation}}),
              1)
        << operation;
  }
  EXPECT_EQ(text.count("popgate_upstream_operation_duration_seconds_count",
                       {{"adapter", "fake"}, {"operation", "fetch"}}),
            2);
  EXPECT_EQ(text.count("popgate_sessions_active", {{"listener", "pop3"}}), 0);
  EXPECT_EQ(text.count("popgate_upstream_connections_active", {{"adapter", "fake"}}), 0);
}

TEST_F(SessionMetricsTest, FailedLoginsAreCountedByMechanismAndAnswer) {
  Client& client = connect();
  read_until(client, "\r\n");
  command(client, "USER alice");
  EXPECT_EQ(command(client, "PASS wrong"), "-ERR [AUTH] Authentication failed.\r\n");
  const std::string plain = sasl::base64_encode(std::string("\0alice\0secret", 13));
  EXPECT_EQ(command(client, "AUTH PLAIN " + plain), "+OK Logged in.\r\n");

  // A second session for the same maildrop is refused as in use.
  Client& second = connect();
  read_until(second, "\r\n");
  command(second, "USER alice");
  EXPECT_EQ(command(second, "PASS secret"), "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n");
  // And an upstream that is down.
  upstream_.open_failure = ErrorKind::Temporary;
  command(second, "USER bob");
  EXPECT_EQ(command(second, "PASS secret"), "-ERR [SYS/TEMP] Temporary failure, try again later.\r\n");
  // Failed logins leave no upstream connection counted.
  ASSERT_TRUE(run_until([&] { return upstream_.live_mailboxes == 1; }));

  const PrometheusText text = scrape();
  auto attempts = [&](const char* mechanism, const char* result) {
    return text.count("popgate_auth_attempts_total", {{"mechanism", mechanism}, {"result", result}});
  };
  EXPECT_EQ(attempts("user", "auth"), 1);
  EXPECT_EQ(attempts("plain", "ok"), 1);
  EXPECT_EQ(attempts("user", "in_use"), 1);
  EXPECT_EQ(attempts("user", "temporary"), 1);
  EXPECT_EQ(attempts("user", "ok"), 0);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "PASS"}, {"result", "err"}}), 3);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "AUTH"}, {"result", "ok"}}), 1);
  EXPECT_EQ(text.count("popgate_upstream_errors_total",
                       {{"adapter", "fake"}, {"operation", "open"}, {"class", "auth"}}),
            1);
  EXPECT_EQ(text.count("popgate_upstream_errors_total",
                       {{"adapter", "fake"}, {"operation", "open"}, {"class", "temporary"}}),
            1);
  EXPECT_EQ(text.count("popgate_sessions_active", {{"listener", "pop3"}}), 2);
  EXPECT_EQ(text.count("popgate_upstream_connections_active", {{"adapter", "fake"}}), 1);
}

TEST_F(SessionMetricsTest, UpstreamFailuresAreCountedByOperationAndClass) {
  upstream_.messages[0].gone = true;
  upstream_.commit_failure = ErrorKind::Temporary;
  Client& client = connect();
  login(client);
  EXPECT_EQ(command(client, "RETR 1"), "-ERR Message no longer exists upstream.\r\n");
  command(client, "DELE 2");
  EXPECT_EQ(command(client, "QUIT"), "-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n");
  ASSERT_TRUE(run_until([&] { return all_finished(); }));
  const PrometheusText text = scrape();
  EXPECT_EQ(text.count("popgate_upstream_errors_total",
                       {{"adapter", "fake"}, {"operation", "fetch"}, {"class", "not_found"}}),
            1);
  EXPECT_EQ(text.count("popgate_upstream_errors_total",
                       {{"adapter", "fake"}, {"operation", "commit"}, {"class", "temporary"}}),
            1);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "QUIT"}, {"result", "err"}}), 1);
  EXPECT_EQ(text.count("popgate_messages_deleted_total"), 0);
  EXPECT_EQ(text.count("popgate_messages_retrieved_total"), 0);
}

TEST_F(SessionMetricsTest, ADroppedSessionMidMessageLeavesNoGaugeUp) {
  upstream_.messages[0].body = std::string(5000, 'x') + "\r\n";
  upstream_.messages[0].info.size = 5002;
  Client& client = connect();
  login(client);
  client.io->auto_take = false;  // a client that stops reading: the body stalls on backpressure
  send(client, "RETR 1\r\n");
  ASSERT_TRUE(run_until([&] { return upstream_.paused; }));
  client.io->handler->on_end(io::StreamEnd{false, "connection reset by peer"});
  ASSERT_TRUE(run_until([&] { return all_finished() && upstream_.live_mailboxes == 0; }));
  const PrometheusText text = scrape();
  EXPECT_EQ(text.count("popgate_sessions_active", {{"listener", "pop3"}}), 0);
  EXPECT_EQ(text.count("popgate_upstream_connections_active", {{"adapter", "fake"}}), 0);
  EXPECT_EQ(text.count("popgate_messages_retrieved_total"), 0);
}

TEST_F(SessionMetricsTest, ShutdownEndsTheCommandInFlightAsAnError) {
  Client& client = connect();
  read_until(client, "\r\n");
  command(client, "USER alice");
  send(client, "PASS secret\r\n");  // the open is in flight (the fake answers on a later tick)
  session(client).shut_down();
  ASSERT_TRUE(run_until([&] { return all_finished(); }));
  const PrometheusText text = scrape();
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "PASS"}, {"result", "err"}}), 1);
  EXPECT_EQ(text.count("popgate_commands_total", {{"command", "PASS"}, {"result", "ok"}}), 0);
}

}  // namespace
}  // namespace popgate

namespace popgate {
namespace {

TEST(MetricsTest, UpstreamTlsHandshakesCountedByTheIoLayerAppearAtEachScrape) {
  Metrics metrics;
  auto upstream = [&](const char* result) {
    return parse_prometheus_text(metrics.serialize())
        .count("popgate_tls_handshakes_total", {{"side", "upstream"}, {"result", result}});
  };
  EXPECT_EQ(upstream("ok"), 0);
  // What io::TlsTransport::connect does on success and failure.
  io::tls_counters().client_handshakes += 2;
  io::tls_counters().client_handshake_failures += 1;
  EXPECT_EQ(upstream("ok"), 2);
  EXPECT_EQ(upstream("failed"), 1);
  EXPECT_EQ(upstream("ok"), 2) << "a second scrape does not count them again";
}

}  // namespace
}  // namespace popgate
