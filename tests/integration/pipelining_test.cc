// RFC 2449 PIPELINING against the real upstream: many commands in one write are answered in order.
#include <gtest/gtest.h>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using Pipelining = MailTest;

TEST_F(Pipelining, StatRetrOfTheLargeMessageListUidlQuitInOneWrite) {
  start_dovecot(make_corpus({.small_count = 10}));
  start_popgate();
  const std::string large = std::to_string(message_number(corpus_, "large"));

  auto oracle = oracle_login();
  const std::string want_stat = oracle->command("STAT");
  const Pop3Response want_retr = oracle->multiline("RETR " + large);
  const Pop3Response want_list = oracle->multiline("LIST");
  const Pop3Response want_uidl = oracle->multiline("UIDL");
  ASSERT_TRUE(want_retr.ok() && want_list.ok() && want_uidl.ok());

  auto gate = popgate_login();
  gate->send_raw("STAT\r\nRETR " + large + "\r\nLIST\r\nUIDL\r\nQUIT\r\n");
  EXPECT_EQ(want_stat, gate->read_status_line());
  const Pop3Response retr = gate->read_multiline_response();
  ASSERT_TRUE(retr.ok()) << retr.status;
  EXPECT_EQ(first_number(want_retr.status), first_number(retr.status)) << retr.status;
  EXPECT_TRUE(same_bytes(want_retr.body, retr.body)) << "RETR " << large;
  const Pop3Response list = gate->read_multiline_response();
  ASSERT_TRUE(list.ok()) << list.status;
  EXPECT_TRUE(same_bytes(want_list.body, list.body)) << "LIST";
  const Pop3Response uidl = gate->read_multiline_response();
  ASSERT_TRUE(uidl.ok()) << uidl.status;
  EXPECT_TRUE(same_bytes(want_uidl.body, uidl.body)) << "UIDL";
  EXPECT_EQ(gate->read_status_line().substr(0, 3), "+OK") << "QUIT";
  std::string after;
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(10), &after)) << "connection still open after QUIT";
  EXPECT_EQ(after, "") << "bytes after the QUIT reply";
}

TEST_F(Pipelining, LoginAndCommandsInOneWrite) {
  start_dovecot(make_small_corpus(3));
  start_popgate();
  auto oracle = oracle_login();
  const std::string want_stat = oracle->command("STAT");
  const Pop3Response want_retr = oracle->multiline("RETR 2");
  const Pop3Response want_list = oracle->multiline("LIST");

  Pop3Client gate(popgate_->port());
  gate.send_raw("CAPA\r\nUSER " + std::string(kUser) + "\r\nPASS " + std::string(kPassword) +
                "\r\nSTAT\r\nRETR 2\r\nLIST\r\nNOOP\r\nQUIT\r\n");
  const Pop3Response capa = gate.read_multiline_response();
  EXPECT_TRUE(capa.ok()) << capa.status;
  EXPECT_EQ(gate.read_status_line().substr(0, 3), "+OK") << "USER";
  EXPECT_EQ(gate.read_status_line().substr(0, 3), "+OK") << "PASS";
  EXPECT_EQ(want_stat, gate.read_status_line());
  const Pop3Response retr = gate.read_multiline_response();
  EXPECT_TRUE(same_bytes(want_retr.body, retr.body)) << retr.status;
  const Pop3Response list = gate.read_multiline_response();
  EXPECT_TRUE(same_bytes(want_list.body, list.body)) << list.status;
  EXPECT_EQ(gate.read_status_line().substr(0, 3), "+OK") << "NOOP";
  EXPECT_EQ(gate.read_status_line().substr(0, 3), "+OK") << "QUIT";
  EXPECT_TRUE(gate.wait_for_close(std::chrono::seconds(10)));
}

}  // namespace
}  // namespace popgate::integration
