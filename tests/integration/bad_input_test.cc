// Malformed client input is answered with -ERR and the session goes on (RFC 1939 §3: unknown and
// malformed commands get a negative response; invalid input is skipped to the next line).
#include <gtest/gtest.h>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using BadInput = MailTest;

const std::string kGarbage =
    std::string("\x01\x02\xfe\xff garbage \x80\x9b[0m\x7f", 19) + std::string(1, '\0') + "NUL\tand tab\r\n";
const std::string kLongLine = std::string(10 * 1024, 'A') + "\r\n";

TEST_F(BadInput, GarbageAndALongLineAfterLoginGetErrAndTheSessionSurvives) {
  start_dovecot(make_small_corpus(2));
  start_popgate();
  auto gate = popgate_login();

  gate->send_raw(kGarbage);
  EXPECT_EQ(gate->read_status_line().substr(0, 4), "-ERR") << "binary garbage";
  gate->send_raw(kLongLine);
  EXPECT_EQ(gate->read_status_line().substr(0, 4), "-ERR") << "10 KiB line";
  gate->send_raw("RETR " + std::string(10 * 1024, '9') + "\r\n");
  EXPECT_EQ(gate->read_status_line().substr(0, 4), "-ERR") << "10 KiB RETR argument";

  EXPECT_EQ(gate->command("NOOP").substr(0, 3), "+OK") << "the session must survive";
  EXPECT_EQ(gate->command("STAT").substr(0, 6), "+OK 2 ");
  EXPECT_FALSE(gate->has_pending_data(std::chrono::milliseconds(100)))
      << "exactly one reply per bad line, nothing left over";
  EXPECT_EQ(gate->command("QUIT").substr(0, 3), "+OK");
}

TEST_F(BadInput, GarbageAndALongLineBeforeLoginGetErrAndLoginStillWorks) {
  start_dovecot(make_small_corpus(1));
  start_popgate();
  Pop3Client gate(popgate_->port());
  gate.send_raw(kGarbage);
  EXPECT_EQ(gate.read_status_line().substr(0, 4), "-ERR") << "binary garbage";
  gate.send_raw("USER " + std::string(10 * 1024, 'u') + "\r\n");
  EXPECT_EQ(gate.read_status_line().substr(0, 4), "-ERR") << "10 KiB USER line";
  EXPECT_EQ(gate.login(kUser, kPassword).substr(0, 3), "+OK");
  EXPECT_EQ(gate.command("NOOP").substr(0, 3), "+OK");
  EXPECT_FALSE(gate.has_pending_data(std::chrono::milliseconds(100)));
}

TEST_F(BadInput, CommandsOutOfStateGetErr) {
  start_dovecot(make_small_corpus(1));
  start_popgate();
  Pop3Client gate(popgate_->port());
  EXPECT_EQ(gate.command("STAT").substr(0, 4), "-ERR") << "STAT before login";
  EXPECT_EQ(gate.command("PASS " + std::string(kPassword)).substr(0, 4), "-ERR") << "PASS without USER";
  EXPECT_EQ(gate.login(kUser, kPassword).substr(0, 3), "+OK");
  EXPECT_EQ(gate.command("USER " + std::string(kUser)).substr(0, 4), "-ERR") << "USER after login";
  EXPECT_EQ(gate.command("RETR 0").substr(0, 4), "-ERR");
  EXPECT_EQ(gate.command("RETR 2").substr(0, 4), "-ERR") << "no such message";
  EXPECT_EQ(gate.command("RETR x").substr(0, 4), "-ERR");
  EXPECT_EQ(gate.command("TOP 1").substr(0, 4), "-ERR") << "TOP needs two arguments";
  EXPECT_EQ(gate.command("NOOP").substr(0, 3), "+OK");
}

}  // namespace
}  // namespace popgate::integration
