// The fixture of the fault and abuse tests: Dovecot, a FaultRelay, popgate, and leak checks.
#include "tests/integration/support/relayed_mail_test.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

struct PopgateGauges {
  std::optional<double> sessions;
  std::optional<double> upstream_connections;
  int fds = -1;
};

PopgateGauges read_gauges(const PopgateProcess& popgate) {
  PopgateGauges gauges;
  // Counted before the scrapes: each is an admin connection that popgate closes a moment later.
  gauges.fds = popgate.open_fds();
  gauges.sessions = popgate.metric("popgate_sessions_active");
  gauges.upstream_connections = popgate.metric("popgate_upstream_connections_active").value_or(0);
  return gauges;
}

// "3:socket:[123] 4:anon_inode:[eventpoll] ...", for a failure message.
std::string describe_fds(pid_t pid) {
  std::string text;
  std::error_code error;
  const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fd";
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    std::error_code ignored;
    text += it->path().filename().string() + ":" +
            std::filesystem::read_symlink(it->path(), ignored).string() + " ";
  }
  return text;
}

}  // namespace

CorpusMessage make_big_message(std::string label, size_t size) {
  std::string bytes = "From: sender@example.com\r\nTo: alice@example.com\r\nSubject: " + label +
                      "\r\nMessage-ID: <" + label + "@example.com>\r\n\r\n";
  bytes.reserve(size + 80);
  for (uint64_t line = 0; bytes.size() < size; ++line) {
    std::string text = "line " + std::to_string(line) + " ";
    text.append(74 - text.size(), static_cast<char>('a' + line % 26));
    bytes += text + "\r\n";
  }
  return {std::move(label), std::move(bytes)};
}

void RelayedMailTest::TearDown() {
  if (HasFailure() && relay_) {
    const RelayCounters c = relay_->counters();
    std::cerr << "relay: accepted " << c.accepted << ", open " << c.open << ", to popgate "
              << c.bytes_to_popgate << " B, to upstream " << c.bytes_to_upstream << " B, faults "
              << c.faults_fired << "\n";
  }
  MailTest::TearDown();
  popgate_.reset();  // before the relay it talks to
  relay_.reset();
}

void RelayedMailTest::start_relayed(std::vector<CorpusMessage> corpus, std::vector<std::string> args) {
  start_dovecot(std::move(corpus));
  relay_ = std::make_unique<FaultRelay>(dovecot_->imap_port());
  if (std::find(args.begin(), args.end(), "--upstream-timeout") == args.end()) {
    args.insert(args.end(), {"--upstream-timeout", "2"});
  }
  // A readiness probe is a connection through the relay too: rarely, so it cannot blur a count.
  args.insert(args.end(), {"--readiness-probe-interval", "3600"});
  // Each session gets its own upstream connection through the relay (so a fault hits the session
  // it was meant for), and the baseline checks find every connection closed after the session.
  if (std::find(args.begin(), args.end(), "--upstream-reuse-time") == args.end()) {
    args.insert(args.end(), {"--upstream-reuse-time", "0"});
  }
  start_popgate(std::move(args), {.upstream = relay_->upstream_url(), .admin = true});
  initial_uids_ = uids_now();
  // The fixture's wait for the port was a session too: the baseline is taken once it is gone.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  PopgateGauges gauges = read_gauges(*popgate_);
  while (gauges.sessions.value_or(1) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // polling interval
    gauges = read_gauges(*popgate_);
  }
  ASSERT_EQ(gauges.sessions, 0.0);
  // An admin connection may still be closing: the smallest count over a few polls is the baseline.
  baseline_fds_ = gauges.fds;
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(20ms);
    baseline_fds_ = std::min(baseline_fds_, popgate_->open_fds());
  }
}

void RelayedMailTest::expect_back_to_baseline() {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  PopgateGauges gauges = read_gauges(*popgate_);
  auto done = [&] {
    return gauges.sessions == 0.0 && gauges.upstream_connections == 0.0 && gauges.fds <= baseline_fds_;
  };
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // polling interval
    gauges = read_gauges(*popgate_);
  }
  EXPECT_EQ(gauges.sessions, 0.0) << "sessions still active";
  EXPECT_EQ(gauges.upstream_connections, 0.0) << "upstream connections still open";
  EXPECT_LE(gauges.fds, baseline_fds_)
      << "descriptors: " << baseline_fds_ << " at the start; now " << describe_fds(popgate_->pid());
}

std::vector<uint32_t> RelayedMailTest::without(std::vector<uint32_t> uids,
                                               const std::vector<size_t>& numbers) const {
  std::vector<uint32_t> gone;
  for (size_t n : numbers) gone.push_back(initial_uids_.at(n - 1));
  std::erase_if(uids, [&](uint32_t uid) { return std::find(gone.begin(), gone.end(), uid) != gone.end(); });
  return uids;
}

}  // namespace popgate::integration
