// Retrieving a 20 MiB message through popgate to a slow reader must not buffer the message: peak RSS
// (VmHWM) grows by less than 8 MiB over the baseline after login.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using BoundedMemory = MailTest;

constexpr long kAllowedGrowthKib = 8 * 1024;

TEST_F(BoundedMemory, RetrOfTheLargeMessageToASlowReader) {
  start_dovecot(make_corpus({.small_count = 0}));
  start_popgate();
  const std::string large = std::to_string(message_number(corpus_, "large"));
  const Pop3Response want = oracle_login()->multiline("RETR " + large);
  ASSERT_TRUE(want.ok());

  auto gate = popgate_login();
  EXPECT_EQ(gate->command("STAT").substr(0, 3), "+OK");
  const auto baseline = read_memory_usage(popgate_->pid());
  ASSERT_TRUE(baseline.has_value());

  gate->send_raw("RETR " + large + "\r\n");
  std::string received;
  char chunk[16 * 1024];
  auto read_up_to = [&](size_t total) {
    while (received.size() < total) {
      const size_t n = gate->read_some(chunk, std::min(sizeof chunk, total - received.size()));
      ASSERT_GT(n, 0u) << "connection closed after " << received.size() << " bytes";
      received.append(chunk, n);
    }
  };
  while (received.find("\r\n") == std::string::npos) {
    const size_t n = gate->read_some(chunk, 1);
    ASSERT_GT(n, 0u) << "connection closed before the RETR status line";
    received.append(chunk, n);
  }
  ASSERT_EQ(received.substr(0, 3), "+OK") << received;
  // Stop reading twice, long enough for popgate to fill every buffer if it does not apply backpressure.
  long peak_while_paused = 0;
  for (size_t pause_at : {size_t{1} << 20, size_t{8} << 20}) {
    read_up_to(pause_at);
    if (HasFatalFailure()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    peak_while_paused = std::max(peak_while_paused, read_memory_usage(popgate_->pid())->vm_rss_kib);
  }
  // Then read the rest at full speed.
  const std::string terminator = "\r\n.\r\n";
  while (received.size() < terminator.size() ||
         received.compare(received.size() - terminator.size(), terminator.size(), terminator) != 0) {
    const size_t n = gate->read_some(chunk, sizeof chunk);
    ASSERT_GT(n, 0u) << "connection closed after " << received.size() << " bytes";
    received.append(chunk, n);
  }
  const auto after = read_memory_usage(popgate_->pid());
  ASSERT_TRUE(after.has_value());

  const size_t status_end = received.find("\r\n");
  ASSERT_NE(status_end, std::string::npos);
  EXPECT_EQ(received.substr(0, 3), "+OK");
  EXPECT_TRUE(same_bytes(
      want.body, std::string_view(received).substr(status_end + 2, received.size() - status_end - 5)));
  std::cerr << "popgate VmHWM: " << baseline->vm_hwm_kib << " KiB after login, " << after->vm_hwm_kib
            << " KiB after RETR of " << want.body.size()
            << " bytes; VmRSS while paused: " << peak_while_paused << " KiB\n";
  EXPECT_LT(after->vm_hwm_kib - baseline->vm_hwm_kib, kAllowedGrowthKib)
      << "peak RSS grew from " << baseline->vm_hwm_kib << " KiB to " << after->vm_hwm_kib << " KiB";
  EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
}

}  // namespace
}  // namespace popgate::integration
