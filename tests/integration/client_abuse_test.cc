// Clients that misbehave against a real popgate in front of a real Dovecot (through a FaultRelay that
// only counts bytes here): one that drops mid-RETR of a big message, a slowloris, one that never
// reads, and 10,000 connections at once. Each checks popgate's memory or descriptors, the mailbox
// afterwards, and that a normal session is served meanwhile.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <thread>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/eventually.h"
#include "tests/integration/support/relayed_mail_test.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

constexpr size_t kBigSize = 48 * 1024 * 1024;
// popgate's resident memory may grow by this much over its size after login, whatever the message
// size: socket buffers live in the kernel, popgate's own queue stops at 256 KiB.
constexpr long kAllowedGrowthKib = 16 * 1024;

long rss_kib(pid_t pid) {
  const auto usage = read_memory_usage(pid);
  return usage ? usage->vm_rss_kib : -1;
}

// Polls `done` every 50 ms for up to `timeout`.
// A normal session on the side: login, STAT, RETR of a small message, QUIT.
void expect_normal_session(uint16_t port, size_t message) {
  Pop3Client client(port);
  ASSERT_EQ(client.login(kUser, kPassword).substr(0, 3), "+OK");
  EXPECT_EQ(client.command("STAT").substr(0, 3), "+OK");
  EXPECT_TRUE(client.multiline("RETR " + std::to_string(message)).ok());
  EXPECT_EQ(client.command("QUIT").substr(0, 3), "+OK");
}

class ClientAbuse : public RelayedMailTest {
 protected:
  // alice's INBOX: two small messages and the big one (number 3).
  void start_with_big_message(std::vector<std::string> args = {}) {
    std::vector<CorpusMessage> corpus = make_small_corpus(2);
    corpus.push_back(make_big_message("big", kBigSize));
    start_relayed(std::move(corpus), std::move(args));
  }
};

TEST_F(ClientAbuse, DisconnectMidRetrStopsTheUpstreamTransfer) {
  start_with_big_message();
  auto client = popgate_login();
  ASSERT_EQ(client->command("STAT").substr(0, 3), "+OK");
  const long baseline_kib = rss_kib(popgate_->pid());
  client->send_raw("RETR 3\r\n");
  ASSERT_TRUE(client->read_status_line().starts_with("+OK"));
  std::string received;
  char chunk[64 * 1024];
  while (received.size() < 1024 * 1024) {
    const size_t n = client->read_some(chunk, sizeof chunk);
    ASSERT_GT(n, 0u) << "closed after " << received.size() << " bytes";
    received.append(chunk, n);
  }
  client->drop();

  // popgate lets go of the upstream: the relay sees its connection closed long before the end.
  EXPECT_TRUE(eventually([&] { return relay_->counters().open == 0; })) << "the upstream transfer went on";
  const uint64_t relayed = relay_->counters().bytes_to_popgate;
  std::cerr << "client gone mid-RETR: " << relayed << " of " << kBigSize << " bytes relayed\n";
  // Socket buffers on the way may hold up to some 20 MiB; the rest of the message never moves.
  EXPECT_LT(relayed, kBigSize * 3 / 4) << "popgate read " << relayed << " bytes of a message nobody reads";
  long after_kib = rss_kib(popgate_->pid());
  EXPECT_TRUE(eventually([&] {
    return (after_kib = rss_kib(popgate_->pid())) < baseline_kib + kAllowedGrowthKib;
  })) << "VmRSS "
      << after_kib << " KiB, " << baseline_kib << " KiB before the RETR";
  EXPECT_TRUE(log_has("client")) << "no line about the client's disconnect";
  EXPECT_EQ(uids_now(), initial_uids_);
  expect_back_to_baseline();
  expect_normal_session(popgate_->port(), 1);
}

TEST_F(ClientAbuse, SlowlorisIsCutByTheIdleTimeout) {
  start_relayed(make_small_corpus(3), {"--idle-timeout", "3"});
  Pop3Client slow(popgate_->port());
  ASSERT_TRUE(slow.greeting().starts_with("+OK"));
  // One byte a second, never a whole line: well within the timeout between bytes, so only a timer
  // that counts from the last whole command can end it.
  const std::string trickle = "USER alice-and-a-very-long-name-that-never-ends";
  bool cut = false;
  std::string answer;
  const auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < trickle.size() && !cut; ++i) {
    try {
      slow.send_raw(trickle.substr(i, 1));
    } catch (const std::exception&) {
      cut = true;
      break;
    }
    if (i == 2) {
      // Meanwhile a normal session is served, and deletes one message.
      Pop3Client normal(popgate_->port());
      ASSERT_EQ(normal.login(kUser, kPassword).substr(0, 3), "+OK");
      EXPECT_EQ(normal.command("DELE 1").substr(0, 3), "+OK");
      EXPECT_EQ(normal.command("QUIT").substr(0, 3), "+OK");
    }
    cut = slow.wait_for_close(1s, &answer);
  }
  const auto lasted = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(cut) << "a client sending a byte a second kept its session for "
                   << std::chrono::duration_cast<std::chrono::seconds>(lasted).count() << " s";
  EXPECT_TRUE(answer.empty() || answer.starts_with("-ERR")) << answer;
  EXPECT_TRUE(log_has("idle")) << "no line about the idle timeout";
  slow.drop();
  EXPECT_EQ(uids_now(), without(initial_uids_, {1}));
  expect_back_to_baseline();
}

TEST_F(ClientAbuse, ClientThatNeverReadsHoldsMemoryBounded) {
  start_with_big_message();
  auto client = popgate_login();
  ASSERT_EQ(client->command("STAT").substr(0, 3), "+OK");
  const long baseline_kib = rss_kib(popgate_->pid());
  client->send_raw("RETR 3\r\n");
  // Wait until the transfer has stopped: nothing relayed for a whole second.
  uint64_t relayed = 0;
  EXPECT_TRUE(eventually(
      [&] {
        const uint64_t before = relay_->counters().bytes_to_popgate;
        std::this_thread::sleep_for(1s);  // the window in which nothing may move
        relayed = relay_->counters().bytes_to_popgate;
        return relayed > 0 && relayed == before;
      },
      60s))
      << "the transfer never stopped although the client reads nothing";
  const long stalled_kib = rss_kib(popgate_->pid());
  std::cerr << "never-reading client: " << relayed << " of " << kBigSize << " bytes relayed; VmRSS "
            << baseline_kib << " -> " << stalled_kib << " KiB\n";
  EXPECT_LT(relayed, kBigSize * 3 / 4) << "backpressure did not reach the upstream";
  EXPECT_LT(stalled_kib - baseline_kib, kAllowedGrowthKib) << "popgate buffered the message";

  // Reading again, the whole message arrives.
  std::string tail;
  uint64_t total = 0;
  char chunk[256 * 1024];
  const std::string terminator = "\r\n.\r\n";
  for (;;) {
    const size_t n = client->read_some(chunk, sizeof chunk);
    ASSERT_GT(n, 0u) << "closed after " << total << " bytes";
    total += n;
    tail = (tail + std::string(chunk, n)).substr(std::max<size_t>(tail.size() + n, 8) - 8);
    if (tail.ends_with(terminator)) break;
  }
  EXPECT_GT(total, kBigSize);
  EXPECT_EQ(client->command("QUIT").substr(0, 3), "+OK");
  client->drop();  // popgate waits (up to 10 s) for the client's side of the close
  EXPECT_EQ(uids_now(), initial_uids_);
  expect_back_to_baseline();
}

// ---------------------------------------------------------------- 10,000 connections at once

constexpr int kConnections = 10000;

bool help_lists(std::string_view option) {
  SpawnOptions options;
  options.argv = {POPGATE_BINARY, "--help"};
  const RunResult result = run_program(options, 10s);
  return (result.out + result.err).find(option) != std::string::npos;
}

// Raises this process's descriptor limit (popgate, started later, inherits it and raises its own).
bool raise_descriptor_limit(rlim_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  if (limit.rlim_max < wanted) limit.rlim_max = wanted;  // allowed as root
  limit.rlim_cur = wanted;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

struct Flood {
  int fd = -1;
  std::string line;  // the first line popgate sent
  bool done = false;
  bool closed = false;
};

TEST_F(ClientAbuse, TenThousandConnectionsAtOnce) {
  if (!raise_descriptor_limit(kConnections + 1000)) {
    GTEST_SKIP() << "cannot raise RLIMIT_NOFILE to " << kConnections + 1000;
  }
  std::vector<std::string> args;
  // Measure capacity, not the admission limits (0 = unlimited), where this popgate has them.
  if (help_lists("--max-sessions")) args.insert(args.end(), {"--max-sessions", "0"});
  if (help_lists("--max-sessions-per-ip")) args.insert(args.end(), {"--max-sessions-per-ip", "0"});
  start_relayed(make_small_corpus(3), args);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll, 0);
  std::vector<Flood> flood(kConnections);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(popgate_->port());
  // Connections are opened as fast as popgate takes them, but never more than fit in its listen
  // backlog without an answer: past that the kernel drops handshakes, which is not popgate's doing.
  constexpr int kMaxUnanswered = 400;
  int opened = 0;
  int finished = 0;
  std::vector<epoll_event> events(1024);
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + 180s;
  while (finished < kConnections && std::chrono::steady_clock::now() < deadline) {
    for (; opened < kConnections && opened - finished < kMaxUnanswered; ++opened) {
      Flood& f = flood[opened];
      f.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ASSERT_GE(f.fd, 0) << "socket " << opened << ": " << std::strerror(errno);
      const int rc = ::connect(f.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << "connect " << opened << ": " << std::strerror(errno);
      epoll_event event{};
      event.events = EPOLLIN | EPOLLRDHUP;
      event.data.u32 = static_cast<uint32_t>(opened);
      ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, f.fd, &event), 0);
    }
    // Every connection gets its first line (a greeting, or a clear -ERR) or is closed.
    const int n = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < n; ++e) {
      Flood& f = flood[events[e].data.u32];
      if (f.done) continue;
      char buffer[512];
      const ssize_t got = ::recv(f.fd, buffer, sizeof buffer, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got > 0) f.line.append(buffer, static_cast<size_t>(got));
      if (got <= 0) f.closed = true;
      if (got <= 0 || f.line.find("\r\n") != std::string::npos) {
        f.done = true;
        ++finished;
        ::epoll_ctl(epoll, EPOLL_CTL_DEL, f.fd, nullptr);
      }
    }
  }
  const auto took = std::chrono::steady_clock::now() - started;
  ::close(epoll);
  int greeted = 0, refused = 0, silent = 0, unanswered = 0;
  std::string a_refusal;
  for (const Flood& f : flood) {
    if (!f.done) {
      ++unanswered;
    } else if (f.line.starts_with("+OK")) {
      ++greeted;
    } else if (f.line.starts_with("-ERR")) {
      ++refused;
      a_refusal = f.line;
    } else {
      ++silent;
    }
  }
  std::cerr << kConnections << " connections: " << greeted << " greeted, " << refused << " refused ("
            << a_refusal.substr(0, a_refusal.find('\r')) << "), " << silent << " closed silently, "
            << unanswered << " unanswered, in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_EQ(greeted + refused, kConnections) << "every connection is greeted or refused with -ERR";
  EXPECT_GT(greeted, 0);
  // While they are all open, a normal session is served.
  expect_normal_session(popgate_->port(), 1);
  if (greeted == kConnections) {
    EXPECT_TRUE(eventually([&] { return popgate_->metric("popgate_sessions_active") >= kConnections; }))
        << "sessions_active " << popgate_->metric("popgate_sessions_active").value_or(-1);
  }
  for (Flood& f : flood) ::close(f.fd);
  EXPECT_EQ(uids_now(), initial_uids_);
  expect_back_to_baseline();
}

}  // namespace
}  // namespace popgate::integration
