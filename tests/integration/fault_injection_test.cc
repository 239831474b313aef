// Faults of the upstream connection against a real Dovecot, made by a FaultRelay between popgate and
// it: closes, stalls, NO/BAD answers and garbage during SELECT, RETR and UPDATE. Each test checks what
// the POP3 client saw, the log line, the real mailbox afterwards (nothing lost, exactly the confirmed
// deletions gone) and that popgate let go of every session, upstream connection and descriptor.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/integration/support/relayed_mail_test.h"

namespace popgate::integration {
namespace {

using namespace std::chrono_literals;

constexpr size_t kSmallCount = 6;
constexpr size_t kBigNumber = kSmallCount + 1;  // POP3 number of the 1 MiB message
constexpr size_t kBigSize = 1024 * 1024;

// What the client saw as the answer to the command that met the fault: the status line, or ""
// if popgate closed the connection without one.
std::string answer_or_closed(Pop3Client& client, std::string_view command) {
  try {
    return client.command(command);
  } catch (const std::exception&) {
    return "";
  }
}

bool is_sys_temp(std::string_view reply) {
  return reply.starts_with("-ERR [SYS/TEMP]");
}

class FaultInjection : public RelayedMailTest {
 protected:
  void SetUp() override {
    std::vector<CorpusMessage> corpus = make_small_corpus(kSmallCount);
    corpus.push_back(make_big_message("big", kBigSize));
    start_relayed(std::move(corpus));
  }

  // After the fault: a normal session through the same relay works again, and nothing leaked.
  void expect_recovered() {
    EXPECT_EQ(login_when_free(popgate_->port(), kUser, kPassword, 20s).substr(0, 3), "+OK");
    expect_back_to_baseline();
  }
};

// ---------------------------------------------------------------- login: SELECT and the listing

struct LoginFault {
  std::string name;
  FaultPlan plan;
  std::string log_text;  // a part of the log line popgate writes
};

class LoginFaults : public FaultInjection, public ::testing::WithParamInterface<LoginFault> {};

TEST_P(LoginFaults, LoginFailsCleanlyAndTheMailboxIsUntouched) {
  relay_->arm(GetParam().plan);
  Pop3Client client(popgate_->port());
  const std::string reply = client.login(kUser, kPassword);
  EXPECT_EQ(relay_->counters().faults_fired, 1u);
  EXPECT_TRUE(reply.starts_with("-ERR")) << reply;
  if (GetParam().plan.action != FaultAction::AnswerBad && GetParam().plan.action != FaultAction::Garbage) {
    EXPECT_TRUE(is_sys_temp(reply)) << reply;
  }
  EXPECT_TRUE(client.command("STAT").starts_with("-ERR")) << "not logged in";
  client.drop();
  EXPECT_TRUE(log_has("login_failed")) << "no login_failed line";
  EXPECT_TRUE(log_has(GetParam().log_text)) << "no line with " << GetParam().log_text;
  EXPECT_EQ(uids_now(), initial_uids_);
  expect_recovered();
}

INSTANTIATE_TEST_SUITE_P(
    Relay, LoginFaults,
    ::testing::Values(
        LoginFault{
            "SelectNeverArrives", {.trigger = "SELECT", .action = FaultAction::Close}, "class=temporary"},
        LoginFault{"SelectAnswerCut",
                   {.trigger = "SELECT",
                    .action = FaultAction::Close,
                    .point = FaultPoint::AfterForwarding,
                    .upstream_bytes = 12},
                   "class=temporary"},
        LoginFault{"SelectStalls",
                   {.trigger = "SELECT", .action = FaultAction::Stall, .point = FaultPoint::AfterForwarding},
                   "class=temporary"},
        LoginFault{"SelectAnsweredNo", {.trigger = "SELECT", .action = FaultAction::AnswerNo}, "SELECT"},
        LoginFault{"SelectAnsweredBad", {.trigger = "SELECT", .action = FaultAction::AnswerBad}, "SELECT"},
        LoginFault{
            "ListingIsGarbage", {.trigger = "UID FETCH 1:*", .action = FaultAction::Garbage}, "login_failed"},
        LoginFault{"ListingCutMidway",
                   {.trigger = "UID FETCH 1:*",
                    .action = FaultAction::Close,
                    .point = FaultPoint::AfterForwarding,
                    .upstream_bytes = 100},
                   "class=temporary"}),
    [](const ::testing::TestParamInfo<LoginFault>& info) { return info.param.name; });

// ---------------------------------------------------------------- RETR

TEST_F(FaultInjection, ConnectionClosedMidLiteralDuringRetr) {
  auto client = popgate_login();
  ASSERT_EQ(client->command("DELE 1").substr(0, 3), "+OK");  // marked, never confirmed
  relay_->arm({.trigger = "BODY.PEEK[]",
               .action = FaultAction::Close,
               .point = FaultPoint::AfterForwarding,
               .upstream_bytes = 200 * 1024});
  client->send_raw("RETR " + std::to_string(kBigNumber) + "\r\n");
  const std::string status = client->read_status_line();
  EXPECT_EQ(relay_->counters().faults_fired, 1u);
  if (status.starts_with("+OK")) {
    // Data was already on its way: the only honest signal left is closing without the final ".".
    std::string rest;
    EXPECT_TRUE(client->wait_for_close(30s, &rest)) << "still open after a truncated message";
    EXPECT_EQ(rest.find("\r\n.\r\n"), std::string::npos) << "a truncated message looked complete";
    EXPECT_LT(rest.size(), kBigSize);
  } else {
    EXPECT_TRUE(is_sys_temp(status)) << status;
  }
  EXPECT_TRUE(log_has("retrieve_failed")) << "no retrieve_failed line";
  client->drop();
  EXPECT_EQ(uids_now(), initial_uids_) << "the DELE without QUIT must not delete";
  expect_recovered();
}

TEST_F(FaultInjection, UpstreamStallsMidLiteralDuringRetr) {
  auto client = popgate_login();
  relay_->arm({.trigger = "BODY.PEEK[]",
               .action = FaultAction::Stall,
               .point = FaultPoint::AfterForwarding,
               .upstream_bytes = 200 * 1024});
  client->send_raw("RETR " + std::to_string(kBigNumber) + "\r\n");
  const std::string status = client->read_status_line();
  if (status.starts_with("+OK")) {
    std::string rest;
    // Bounded by --upstream-timeout 2; the 30 s are only a generous ceiling for a loaded machine.
    EXPECT_TRUE(client->wait_for_close(30s, &rest)) << "a stalled upstream kept the session forever";
    EXPECT_EQ(rest.find("\r\n.\r\n"), std::string::npos) << "a truncated message looked complete";
  } else {
    EXPECT_TRUE(is_sys_temp(status)) << status;
  }
  EXPECT_TRUE(log_has("retrieve_failed")) << "no retrieve_failed line";
  client->drop();
  EXPECT_EQ(uids_now(), initial_uids_);
  expect_recovered();
}

TEST_F(FaultInjection, RetrAnsweredNoLeavesTheSessionUsable) {
  auto client = popgate_login();
  relay_->arm({.trigger = "BODY.PEEK[]", .action = FaultAction::AnswerNo});
  const std::string status = client->command("RETR 2");
  EXPECT_TRUE(status.starts_with("-ERR")) << status;
  EXPECT_TRUE(log_has("retrieve_failed")) << "no retrieve_failed line";
  // The upstream connection itself is fine: the next RETR and an UPDATE work.
  const Pop3Response again = client->multiline("RETR 2");
  EXPECT_TRUE(again.ok()) << again.status;
  EXPECT_EQ(client->command("DELE 2").substr(0, 3), "+OK");
  EXPECT_EQ(client->command("QUIT").substr(0, 3), "+OK");
  client->drop();
  EXPECT_EQ(uids_now(), without(initial_uids_, {2}));
  expect_back_to_baseline();
}

TEST_F(FaultInjection, GarbageInsteadOfTheMessage) {
  auto client = popgate_login();
  ASSERT_EQ(client->command("DELE 1").substr(0, 3), "+OK");
  relay_->arm({.trigger = "BODY.PEEK[]", .action = FaultAction::Garbage});
  client->send_raw("RETR 3\r\n");
  std::string status;
  try {
    status = client->read_status_line();
  } catch (const std::exception&) {
  }
  EXPECT_FALSE(status.starts_with("+OK")) << status;
  if (!status.empty()) {
    EXPECT_TRUE(status.starts_with("-ERR")) << status;
  }
  EXPECT_TRUE(log_has("retrieve_failed")) << "no retrieve_failed line";
  client->drop();
  EXPECT_EQ(uids_now(), initial_uids_);
  expect_recovered();
}

// ---------------------------------------------------------------- UPDATE

enum class Outcome {
  NothingDeleted,    // -ERR [SYS/TEMP] (or closed); every message still there
  MaybeDeleted,      // -ERR (or closed); the unmarked messages still there, the marked ones either way
  DeletedConfirmed,  // the upstream confirmed EXPUNGE: exactly the marked ones gone
};

struct UpdateFault {
  std::string name;
  FaultPlan plan;
  Outcome outcome;
};

class UpdateFaults : public FaultInjection, public ::testing::WithParamInterface<UpdateFault> {};

TEST_P(UpdateFaults, OnlyConfirmedDeletionsAreGone) {
  const std::vector<size_t> marked = {2, 4, kBigNumber};
  auto client = popgate_login();
  for (size_t n : marked) ASSERT_EQ(client->command("DELE " + std::to_string(n)).substr(0, 3), "+OK");
  relay_->arm(GetParam().plan);
  const std::string reply = answer_or_closed(*client, "QUIT");
  client->drop();  // popgate waits (up to 10 s) for the client's side of the close
  EXPECT_EQ(relay_->counters().faults_fired, 1u);
  const std::vector<uint32_t> after = uids_now();
  const std::vector<uint32_t> kept = without(initial_uids_, marked);
  switch (GetParam().outcome) {
    case Outcome::NothingDeleted:
      EXPECT_TRUE(reply.empty() || reply.starts_with("-ERR")) << reply;
      if (GetParam().plan.action != FaultAction::AnswerBad &&
          GetParam().plan.action != FaultAction::Garbage) {
        EXPECT_TRUE(reply.empty() || is_sys_temp(reply)) << reply;
      }
      EXPECT_TRUE(log_has("update_failed")) << "no update_failed line";
      EXPECT_EQ(after, initial_uids_) << "a message was deleted without a confirmed EXPUNGE";
      break;
    case Outcome::MaybeDeleted:
      EXPECT_TRUE(reply.empty() || is_sys_temp(reply)) << reply;
      EXPECT_TRUE(log_has("update_failed")) << "no update_failed line";
      EXPECT_TRUE(after == initial_uids_ || after == kept)
          << "UIDs left: " << ::testing::PrintToString(after);
      break;
    case Outcome::DeletedConfirmed:
      // popgate had its OK before the connection went: +OK is right, and so would be an error.
      EXPECT_TRUE(reply.empty() || reply.starts_with("+OK") || is_sys_temp(reply)) << reply;
      EXPECT_EQ(after, kept);
      break;
  }
  expect_recovered();
}

INSTANTIATE_TEST_SUITE_P(
    Relay, UpdateFaults,
    ::testing::Values(
        UpdateFault{"StoreNeverArrives",
                    {.trigger = "UID STORE", .action = FaultAction::Close},
                    Outcome::NothingDeleted},
        UpdateFault{
            "ClosedAfterStoreAnswered",
            {.trigger = "UID STORE", .action = FaultAction::Close, .point = FaultPoint::AfterTaggedAnswer},
            Outcome::NothingDeleted},
        UpdateFault{"ExpungeNeverArrives",
                    {.trigger = "UID EXPUNGE", .action = FaultAction::Close},
                    Outcome::NothingDeleted},
        UpdateFault{
            "ClosedRightAfterExpungeSent",
            {.trigger = "UID EXPUNGE", .action = FaultAction::Close, .point = FaultPoint::AfterForwarding},
            Outcome::MaybeDeleted},
        UpdateFault{
            "ClosedAfterExpungeAnswered",
            {.trigger = "UID EXPUNGE", .action = FaultAction::Close, .point = FaultPoint::AfterTaggedAnswer},
            Outcome::DeletedConfirmed},
        UpdateFault{
            "StoreStalls",
            {.trigger = "UID STORE", .action = FaultAction::Stall, .point = FaultPoint::AfterForwarding},
            Outcome::NothingDeleted},
        UpdateFault{"ExpungeStallsUnsent",
                    {.trigger = "UID EXPUNGE", .action = FaultAction::Stall},
                    Outcome::NothingDeleted},
        UpdateFault{"StoreAnsweredNo",
                    {.trigger = "UID STORE", .action = FaultAction::AnswerNo},
                    Outcome::NothingDeleted},
        UpdateFault{"ExpungeAnsweredBad",
                    {.trigger = "UID EXPUNGE", .action = FaultAction::AnswerBad},
                    Outcome::NothingDeleted},
        UpdateFault{"GarbageForExpunge",
                    {.trigger = "UID EXPUNGE", .action = FaultAction::Garbage},
                    Outcome::NothingDeleted}),
    [](const ::testing::TestParamInfo<UpdateFault>& info) { return info.param.name; });

}  // namespace
}  // namespace popgate::integration
