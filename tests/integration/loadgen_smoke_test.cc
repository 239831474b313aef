// The benchmark load generator (benchmarks/loadgen) against a real Dovecot behind popgate, so the
// tool cannot rot: a short loop run completes sessions and retrieves every message, and idle mode
// holds logged-in sessions. No timing is asserted; performance lives in benchmarks/run.sh.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/dovecot_server.h"
#include "tests/integration/support/popgate_process.h"

namespace popgate::integration {
namespace {

constexpr int kUsers = 4;
constexpr int kMessagesPerUser = 3;

class LoadgenSmoke : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int u = 0; u < kUsers; ++u) {
      const std::string user = "bench" + std::to_string(u);
      dovecot_.add_user(user, "secret");
      for (int m = 0; m < kMessagesPerUser; ++m) {
        // One message starts a line with a dot, so the dot-stuffed terminator scan is exercised.
        dovecot_.deliver(user, "Subject: m" + std::to_string(m) + "\r\n\r\n.dot line\r\n" +
                                   std::string(2000 + 1000 * m, 'x') + "\r\n");
      }
    }
    dovecot_.start();
    popgate_ = std::make_unique<PopgateProcess>(dovecot_.imap_port(),
                                                std::vector<std::string>{"--auth-failure-delay", "0"});
  }

  nlohmann::json run_loadgen(std::vector<std::string> args) {
    SpawnOptions options;
    options.argv = {POPGATE_LOADGEN_BINARY, "--port",     std::to_string(popgate_->port()),
                    "--user-prefix",        "bench",      "--users",
                    std::to_string(kUsers), "--password", "secret"};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    const RunResult r = run_program(options, std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out.substr(r.out.find('{')));
  }

  DovecotServer dovecot_;
  std::unique_ptr<PopgateProcess> popgate_;
};

TEST_F(LoadgenSmoke, LoopModeRetrievesEveryMessageOfEverySession) {
  const nlohmann::json report =
      run_loadgen({"--mode", "loop", "--concurrency", "2", "--duration", "30", "--sessions", "6"});
  EXPECT_EQ(report["sessions_ok"].get<int>(), 6) << report.dump();
  EXPECT_EQ(report["sessions_failed"].get<int>(), 0) << report.dump();
  EXPECT_EQ(report["messages"].get<int>(), 6 * kMessagesPerUser);
  EXPECT_EQ(report["latency"]["RETR"]["count"].get<int>(), 6 * kMessagesPerUser);
  EXPECT_GT(report["latency"]["STAT"]["p99_us"].get<double>(), 0.0);
}

TEST_F(LoadgenSmoke, LoginModeQuitsAfterStat) {
  const nlohmann::json report =
      run_loadgen({"--mode", "login", "--concurrency", "2", "--duration", "30", "--sessions", "6"});
  EXPECT_EQ(report["mode"], "login");
  EXPECT_EQ(report["sessions_ok"].get<int>(), 6) << report.dump();
  EXPECT_EQ(report["latency"]["PASS"]["count"].get<int>(), 6);
  EXPECT_EQ(report["latency"]["QUIT"]["count"].get<int>(), 6);
  EXPECT_FALSE(report["latency"].contains("UIDL")) << report.dump();
  EXPECT_EQ(report["messages"].get<int>(), 0);
}

TEST_F(LoadgenSmoke, PacedSnapshotSessionsQuitCleanlyWhenTheDurationEnds) {
  // Rounds without end: only the duration stops them, and each session then QUITs at its next round.
  const nlohmann::json report =
      run_loadgen({"--mode", "snapshot", "--concurrency", "3", "--rounds", "1000000", "--think-ms", "2",
                   "--duration", "0.5", "--timeout", "20"});
  EXPECT_EQ(report["mode"], "snapshot");
  EXPECT_EQ(report["sessions_failed"].get<int>(), 0) << report.dump();
  EXPECT_EQ(report["sessions_ok"].get<int>(), 3) << report.dump();
  EXPECT_EQ(report["latency"]["QUIT"]["count"].get<int>(), 3);
  const int stats = report["latency"]["STAT"]["count"].get<int>();
  EXPECT_GT(stats, 3 * 5) << report.dump();  // several rounds each, well short of a million
  EXPECT_EQ(report["latency"]["LIST"]["count"].get<int>(), stats);
  EXPECT_EQ(report["latency"]["UIDL"]["count"].get<int>(), stats);
  EXPECT_FALSE(report["latency"].contains("RETR")) << report.dump();
}

TEST_F(LoadgenSmoke, PipelinedSnapshotRoundsAreAllAnswered) {
  // 10 rounds in batches of 4 (4, 4, 2): every reply of every batch is read, in order.
  const nlohmann::json report = run_loadgen(
      {"--mode", "snapshot", "--concurrency", "2", "--sessions", "2", "--rounds", "10", "--pipeline", "4"});
  EXPECT_EQ(report["sessions_failed"].get<int>(), 0) << report.dump();
  EXPECT_EQ(report["sessions_ok"].get<int>(), 2) << report.dump();
  for (const char* command : {"STAT", "LIST", "UIDL"}) {
    EXPECT_EQ(report["latency"][command]["count"].get<int>(), 2 * 10) << command << " " << report.dump();
  }
  EXPECT_EQ(report["latency"]["QUIT"]["count"].get<int>(), 2);
}

TEST_F(LoadgenSmoke, IdleModeHoldsLoggedInSessions) {
  const nlohmann::json report = run_loadgen({"--mode", "idle", "--sessions", "3", "--hold", "0"});
  EXPECT_EQ(report["logged_in"].get<int>(), 3) << report.dump();
  EXPECT_EQ(report["dropped_while_holding"].get<int>(), 0);
}

TEST_F(LoadgenSmoke, RetrOneCountsTheWholeMultiLineResponse) {
  const nlohmann::json report = run_loadgen({"--mode", "retr-one", "--message", "3"});
  // The stuffed message (one extra dot), its CRLF-terminated last line, and ".\r\n".
  const int message = static_cast<int>(std::string("Subject: m2\r\n\r\n.dot line\r\n").size()) + 4000 + 2;
  EXPECT_EQ(report["octets"].get<int>(), message + 1 + 3) << report.dump();
}

}  // namespace
}  // namespace popgate::integration
