// --workers 2 against a real Dovecot: both loops accept on the one port (SO_REUSEPORT), and what
// must hold for the process holds across them: the maildrop lock, the per-address session limit,
// a SIGHUP's new settings, the SIGTERM drain, local-accounts logins. Every log line of a worker
// loop names it ("worker":N), which is how these tests know both loops were hit.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/sourced_client.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// With SO_REUSEPORT the kernel picks a loop per connection by a hash of its addresses and ports:
// 16 connections from 16 source ports all land on one of two loops with probability 2^-15.
constexpr int kConnections = 16;

// The worker numbers of the `event` lines (optionally only those containing `containing`).
std::set<std::string> workers_of(const std::string& log, std::string_view event,
                                 std::string_view containing = "") {
  std::set<std::string> workers;
  for (const auto& line : popgate_events(log, event)) {
    if (line.find(containing) != std::string::npos) workers.insert(log_field(line, "worker"));
  }
  return workers;
}

const std::set<std::string> kBothWorkers = {"0", "1"};

bool accepts_connections(uint16_t port) {
  try {
    ::close(connect_loopback(port));
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

class Workers : public MailTest {
 protected:
  // popgate answers once its first loop listens; the others join the port a moment later, and
  // "started" is logged once all of them listen. Connections made before go to the first loop.
  // Upstream session reuse off unless `reuse`: then popgate steers connections to loops by client
  // address, and every client of these tests is 127.0.0.1; without it the kernel's hash of the
  // 4-tuple spreads them over both loops.
  void start_workers(std::vector<std::string> args, bool reuse = false) {
    if (!reuse) args.insert(args.end(), {"--upstream-reuse-time", "0"});
    start_popgate(std::move(args));
    ASSERT_TRUE(wait_for_popgate_events(log(), "started", 1)) << popgate_->log_text();
  }
  std::function<std::string()> log() {
    return [this] { return popgate_->log_text(); };
  }
  std::string expected_stat() const {
    size_t bytes = 0;
    for (const auto& message : corpus_) bytes += message.bytes.size();
    return "+OK " + std::to_string(corpus_.size()) + " " + std::to_string(bytes);
  }
};

TEST_F(Workers, ConcurrentSessionsOnBothLoopsGetEveryMessageByteForByte) {
  start_dovecot(make_small_corpus(3));
  // Without the maildrop lock and the per-identity cap many sessions may read alice's mailbox at once.
  start_workers({"--workers", "2", "--no-maildrop-lock", "--max-upstream-sessions-per-identity", "0"});
  constexpr int kSessions = 32;
  std::atomic<int> served{0};
  std::vector<std::string> failures(kSessions);
  std::vector<std::thread> clients;
  for (int i = 0; i < kSessions; ++i) {
    clients.emplace_back([&, i] {
      try {
        Pop3Client client(popgate_->port());
        if (std::string reply = client.login(kUser, kPassword); reply != "+OK Logged in.") {
          failures[i] = "login: " + reply;
          return;
        }
        for (size_t n = 0; n < corpus_.size(); ++n) {
          const Pop3Response retr = client.multiline("RETR " + std::to_string(n + 1));
          if (!retr.ok() || dot_unstuff(retr.body) != corpus_[n].bytes) {
            failures[i] = "RETR " + std::to_string(n + 1) + ": " + retr.status;
            return;
          }
        }
        if (client.command("QUIT").rfind("+OK", 0) != 0) {
          failures[i] = "QUIT";
          return;
        }
        ++served;
      } catch (const std::exception& error) {
        failures[i] = error.what();
      }
    });
  }
  for (auto& client : clients) client.join();
  for (int i = 0; i < kSessions; ++i) EXPECT_EQ(failures[i], "") << "session " << i;
  EXPECT_EQ(served.load(), kSessions);
  EXPECT_EQ(workers_of(popgate_->log_text(), "login"), kBothWorkers) << popgate_->log_text();
  // Session numbers are the process's: no two sessions share one, whichever loop served them.
  std::set<std::string> ids;
  for (const auto& line : popgate_events(popgate_->log_text(), "session_open"))
    ids.insert(log_field(line, "session"));
  EXPECT_EQ(ids.size(), popgate_events(popgate_->log_text(), "session_open").size());
}

TEST_F(Workers, TheMaildropLockHoldsAcrossLoops) {
  start_dovecot(make_small_corpus(2));
  start_workers({"--workers", "2"});
  auto holder = popgate_login();
  ASSERT_EQ(holder->command("STAT"), expected_stat());
  // Every other session for alice is refused, on whichever loop it lands.
  std::vector<std::unique_ptr<Pop3Client>> others;
  for (int i = 0; i < kConnections; ++i) {
    others.push_back(std::make_unique<Pop3Client>(popgate_->port()));
    EXPECT_EQ(others.back()->login(kUser, kPassword).rfind("-ERR [IN-USE]", 0), 0u) << "connection " << i;
  }
  EXPECT_EQ(workers_of(popgate_->log_text(), "login_failed", "class=in_use"), kBothWorkers)
      << popgate_->log_text();
  // bob is not alice: his login goes through meanwhile.
  auto bob = popgate_login(kOtherUser, kOtherPassword);
  EXPECT_EQ(bob->command("QUIT").rfind("+OK", 0), 0u);
  // Once the holder quits, alice gets in again (on any loop).
  EXPECT_EQ(holder->command("QUIT").rfind("+OK", 0), 0u);
  EXPECT_EQ(login_when_free(popgate_->port(), kUser, kPassword, 10s), "+OK Logged in.");
}

TEST_F(Workers, ThePerAddressSessionLimitCountsEveryLoop) {
  start_dovecot(make_small_corpus(1));
  start_workers({"--workers", "2", "--max-sessions-per-ip", "3"});
  // Three sessions in place (waiting out the fixture's readiness probe, which was one too).
  std::vector<std::unique_ptr<Pop3Client>> admitted;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (admitted.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    auto client = std::make_unique<Pop3Client>(popgate_->port());
    if (client->greeting().rfind("+OK", 0) == 0) admitted.push_back(std::move(client));
  }
  ASSERT_EQ(admitted.size(), 3u) << popgate_->log_text();
  // With a count per loop, the loop holding fewer than three would let these in.
  for (int i = 0; i < kConnections; ++i) {
    Pop3Client refused(popgate_->port());
    EXPECT_EQ(refused.greeting(), "-ERR [SYS/TEMP] Too many connections; try again later.")
        << "connection " << i;
    EXPECT_TRUE(refused.wait_for_close(5s));
  }
  // The LogThrottle is per loop: at least the first refusal of each loop was logged.
  EXPECT_EQ(workers_of(popgate_->log_text(), "connection_rejected", "reason=max_sessions_per_ip"),
            kBothWorkers)
      << popgate_->log_text();
  // A place given back is a place for the next connection, whichever loop takes it.
  EXPECT_EQ(admitted.back()->command("QUIT").rfind("+OK", 0), 0u);
  EXPECT_TRUE(admitted.back()->wait_for_close(5s));
  admitted.pop_back();
  EXPECT_EQ(login_when_free(popgate_->port(), kUser, kPassword, 10s), "+OK Logged in.");
}

TEST_F(Workers, SighupReachesEveryLoopBeforeItIsLoggedAsDone) {
  start_dovecot(make_small_corpus(1));
  TempDir dir("popgate-workers");
  const fs::path config = dir / "popgate.json";
  write_file(config, R"({"max_line_length": 512, "workers": 2})");
  start_workers({"--config", config.string()});
  const std::string long_user = "USER " + std::string(100, 'u');
  {
    Pop3Client before(popgate_->port());
    EXPECT_EQ(before.command(long_user), "+OK");
  }
  write_file(config.string() + ".new", R"({"max_line_length": 64, "workers": 3})");
  fs::rename(config.string() + ".new", config);
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events(log(), "config_reloaded", 1)) << popgate_->log_text();
  // No wait beyond the log line: every loop has the new limit once it is written.
  for (int i = 0; i < kConnections; ++i) {
    Pop3Client after(popgate_->port());
    EXPECT_EQ(after.command(long_user), "-ERR Line too long.") << "connection " << i;
  }
  const std::string text = popgate_->log_text();
  const std::string after_reload = text.substr(text.find("config_reloaded"));
  EXPECT_EQ(workers_of(after_reload, "session_open"), kBothWorkers) << text;
  // The number of loops is fixed at start: the reload says so and keeps two.
  const auto restart = popgate_events(text, "config_restart_required");
  ASSERT_EQ(restart.size(), 1u) << text;
  EXPECT_EQ(log_field(restart[0], "settings"), "workers");
  EXPECT_FALSE(workers_of(text, "session_open").contains("2")) << "a third loop appeared";
}

TEST_F(Workers, SigtermDrainsEveryLoopAndExitsOnce) {
  start_dovecot(make_small_corpus(2));
  start_workers({"--workers", "2", "--no-maildrop-lock", "--max-upstream-sessions-per-identity", "0",
                 "--drain-timeout", "30"});
  std::vector<std::unique_ptr<Pop3Client>> sessions;
  for (int i = 0; i < kConnections; ++i) sessions.push_back(popgate_login());
  ASSERT_EQ(workers_of(popgate_->log_text(), "login"), kBothWorkers) << popgate_->log_text();

  popgate_->send_signal(SIGTERM);
  ASSERT_TRUE(wait_for_popgate_events(log(), "drain_started", 1)) << popgate_->log_text();
  const auto started = popgate_events(popgate_->log_text(), "drain_started");
  ASSERT_EQ(started.size(), 1u) << "one line for the process, not one per loop";
  // The fixture's readiness probe may still count as a session.
  EXPECT_GE(std::stoi(log_field(started[0], "sessions")), kConnections) << started[0];
  EXPECT_FALSE(accepts_connections(popgate_->port())) << "a loop still listens while draining";

  // Sessions on both loops keep working, and finish on their own.
  for (auto& session : sessions) {
    EXPECT_EQ(session->command("STAT"), expected_stat());
    EXPECT_EQ(session->command("QUIT").rfind("+OK", 0), 0u);
  }
  const std::optional<int> status = popgate_->wait_for_exit(10s);
  ASSERT_TRUE(status.has_value()) << "popgate still runs after the drain:\n" << popgate_->log_text();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << popgate_->log_text();
  const auto finished = popgate_events(popgate_->log_text(), "drain_finished");
  ASSERT_EQ(finished.size(), 1u) << popgate_->log_text();
  EXPECT_EQ(log_field(finished[0], "shut_down"), "0") << finished[0];
  EXPECT_EQ(log_field(finished[0], "sessions"), log_field(started[0], "sessions")) << finished[0];
}

// Through the binary under test (bcrypt: fast enough).
std::string hash_password(const std::string& password) {
  const std::string command = "printf '%s\\n' '" + password + "' | " + POPGATE_BINARY +
                              " hash-password --password-stdin --method bcrypt";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  char line[512] = {};
  std::string hash = std::fgets(line, sizeof line, pipe) ? line : "";
  const int status = ::pclose(pipe);
  if (status != 0 || hash.empty()) throw std::runtime_error("hash-password failed: " + hash);
  hash.pop_back();  // the newline
  return hash;
}

TEST_F(Workers, LocalAccountLoginsWorkOnEveryLoop) {
  start_dovecot(make_small_corpus(2));
  TempDir dir("popgate-workers-accounts");
  write_file(dir / "alice-secret", std::string(kPassword) + "\n");
  write_file(dir / "accounts.json", R"({"identities": {"alice-box": {"user": ")" + std::string(kUser) +
                                        R"(", "secret_file": ")" + (dir / "alice-secret").string() +
                                        R"("}}, "accounts": {"scanner1": {"password_hash": ")" +
                                        hash_password("scanner pw") + R"(", "identity": "alice-box"}}})");
  start_workers({"--workers", "2", "--accounts", (dir / "accounts.json").string()});
  // One at a time (the maildrop lock), each on whichever loop the kernel picks; the password
  // check runs on libuv's threadpool and answers on the loop that asked.
  for (int i = 0; i < kConnections; ++i) {
    Pop3Client device(popgate_->port());
    ASSERT_EQ(device.login("scanner1", "scanner pw"), "+OK Logged in.") << "connection " << i << "\n"
                                                                        << popgate_->log_text();
    EXPECT_EQ(device.command("STAT"), expected_stat());
    EXPECT_EQ(device.command("QUIT").rfind("+OK", 0), 0u);
    EXPECT_TRUE(device.wait_for_close(5s));
  }
  EXPECT_EQ(workers_of(popgate_->log_text(), "login"), kBothWorkers) << popgate_->log_text();
  Pop3Client wrong(popgate_->port());
  EXPECT_EQ(wrong.login("scanner1", "not it").rfind("-ERR [AUTH]", 0), 0u);
}

// With upstream session reuse the pools are per loop, so a device must come back to the loop that
// parked its session: listeners are picked by client address (a BPF program on the SO_REUSEPORT
// group), not by the 4-tuple. Sessions of one user from 8 loopback addresses: each address always
// reaches one loop, the addresses use both loops, and only the first login on each loop goes
// upstream: every later one gets the session parked on its loop by the one before.
TEST_F(Workers, WithUpstreamReuseEachClientAddressKeepsToOneLoopAndFindsItsParkedSession) {
  start_dovecot(make_small_corpus(2));
  start_workers({"--workers", "2", "--upstream-reuse-time", "60"}, /*reuse=*/true);
  constexpr int kAddresses = 8;
  constexpr int kSessionsEach = 3;
  for (int a = 0; a < kAddresses; ++a) {
    const std::string source = "127.0.0." + std::to_string(a + 1);
    for (int n = 0; n < kSessionsEach; ++n) {
      SourcedClient client(source.c_str(), popgate_->port());
      ASSERT_EQ(client.line().substr(0, 3), "+OK");
      ASSERT_EQ(client.login(kUser, kPassword), "+OK Logged in.\r\n") << source;
      EXPECT_EQ(client.command("STAT").substr(0, 3), "+OK");
      ASSERT_EQ(client.command("QUIT"), "+OK Logging out.\r\n");
      ASSERT_TRUE(client.closed());
    }
  }
  const std::string log = popgate_->log_text();
  // session number -> (client address, loop); then each login's loop and reuse.
  std::map<std::string, std::string> address_of;
  for (const auto& line : popgate_events(log, "session_open")) {
    const std::string peer = log_field(line, "peer");
    address_of[log_field(line, "session")] = peer.substr(0, peer.rfind(':'));
  }
  std::map<std::string, std::set<std::string>> loops_of_address;
  std::map<std::string, int> reused_by_address;
  std::set<std::string> loops;
  for (const auto& line : popgate_events(log, "login")) {
    const std::string address = address_of[log_field(line, "session")];
    loops_of_address[address].insert(log_field(line, "worker"));
    loops.insert(log_field(line, "worker"));
    if (log_field(line, "upstream_reused") == "true") ++reused_by_address[address];
  }
  ASSERT_EQ(loops_of_address.size(), static_cast<size_t>(kAddresses)) << log;
  int reused = 0;
  for (const auto& [address, its_loops] : loops_of_address) {
    EXPECT_EQ(its_loops.size(), 1u) << address << " reached more than one loop";
    EXPECT_GE(reused_by_address[address], kSessionsEach - 1) << address << "\n" << log;
    reused += reused_by_address[address];
  }
  EXPECT_EQ(loops, kBothWorkers) << "the addresses all went to one loop";
  EXPECT_EQ(reused, kAddresses * kSessionsEach - 2) << "one fresh upstream login per loop\n" << log;
}

}  // namespace
}  // namespace popgate::integration
