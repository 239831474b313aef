// Tests for Pop3Server's command records: one Began and one Ok/Err per command, whatever the path.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/pop3/pop3_server.h"
#include "protocol/sasl/base64.h"

namespace popgate::pop3 {
namespace {

const std::vector<MessageListing> kListing = {{100, "uid-a"}, {200, "uid-b"}};

// Records as text ("+RETR" began, "RETR ok", "RETR err"), so a sequence compares as one string.
std::string render(const std::vector<CommandRecord>& records) {
  std::string text;
  for (const CommandRecord& record : records) {
    if (!text.empty()) text += ' ';
    switch (record.mark) {
      case CommandMark::Began:
        text.append("+").append(record.keyword);
        break;
      case CommandMark::Ok:
        text.append(record.keyword).append(":ok");
        break;
      case CommandMark::Err:
        text.append(record.keyword).append(":err");
        break;
    }
  }
  return text;
}

class CommandRecordsTest : public ::testing::Test {
 protected:
  void start(Options options = {}) { server_ = std::make_unique<Pop3Server>(std::move(options)); }
  void SetUp() override { start(); }

  // Feeds bytes, runs events until the server settles, and returns (and clears) the records.
  std::string send(std::string_view bytes) {
    server_->receive(bytes);
    return drain();
  }
  std::string drain() {
    for (int guard = 0; guard < 10000; ++guard) {
      const Event event = server_->next_event();
      if (std::holds_alternative<NeedInput>(event) || std::holds_alternative<Waiting>(event) ||
          std::holds_alternative<Close>(event)) {
        break;
      }
    }
    return take();
  }
  std::string take() {
    std::string text = render(server_->command_records());
    server_->clear_command_records();
    return text;
  }
  void login() {
    send("USER alice\r\nPASS secret\r\n");
    server_->auth_succeeded(kListing);
    drain();
  }

  std::unique_ptr<Pop3Server> server_;
};

TEST_F(CommandRecordsTest, SynchronousCommandsBeginAndEndAtOnce) {
  EXPECT_EQ(send("CAPA\r\nUSER alice\r\nFROB\r\nSTAT\r\n"),
            "+CAPA CAPA:ok +USER USER:ok +UNKNOWN UNKNOWN:err +STAT STAT:err");
}

TEST_F(CommandRecordsTest, EmptyLineIsAnUnknownError) {
  EXPECT_EQ(send("\r\n"), "+UNKNOWN UNKNOWN:err");
}

TEST_F(CommandRecordsTest, KeywordIsTheCanonicalUpperCaseName) {
  EXPECT_EQ(send("capa\r\nuSeR alice\r\n"), "+CAPA CAPA:ok +USER USER:ok");
}

TEST_F(CommandRecordsTest, PassEndsWithTheLoginOutcome) {
  EXPECT_EQ(send("USER alice\r\nPASS secret\r\n"), "+USER USER:ok +PASS");
  server_->auth_failed(ErrorKind::Auth);
  EXPECT_EQ(drain(), "PASS:err");
  EXPECT_EQ(send("USER alice\r\nPASS secret\r\n"), "+USER USER:ok +PASS");
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "PASS:ok");
}

TEST_F(CommandRecordsTest, AuthPlainContinuationBeginsAgainAndEndsOnce) {
  const std::string response = sasl::base64_encode(std::string("\0alice\0secret", 13));
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "+AUTH");
  EXPECT_EQ(send(response + "\r\n"), "+AUTH");
  server_->auth_succeeded(kListing);
  EXPECT_EQ(drain(), "AUTH:ok");
}

TEST_F(CommandRecordsTest, AuthPlainInitialResponseAndCancel) {
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\n"), "+AUTH +AUTH AUTH:err");
  EXPECT_EQ(send("AUTH PLAIN !!!\r\n"), "+AUTH AUTH:err");
  const std::string response = sasl::base64_encode(std::string("\0alice\0secret", 13));
  EXPECT_EQ(send("AUTH PLAIN " + response + "\r\n"), "+AUTH");
  server_->auth_failed(ErrorKind::Temporary);
  EXPECT_EQ(drain(), "AUTH:err");
}

TEST_F(CommandRecordsTest, AuthWaitingForItsContinuationIsCutOffByTheIdleTimer) {
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "+AUTH");
  server_->idle_timeout();
  EXPECT_EQ(drain(), "AUTH:err");
}

TEST_F(CommandRecordsTest, RetrEndsWhenTheBodyIsDone) {
  login();
  EXPECT_EQ(send("RETR 1\r\n"), "+RETR");
  server_->retrieve_started();
  EXPECT_EQ(take(), "");
  server_->retrieve_finished();
  EXPECT_EQ(drain(), "RETR:ok");
}

TEST_F(CommandRecordsTest, RetrFailuresBeforeAndAfterTheStatusLine) {
  login();
  EXPECT_EQ(send("TOP 1 0\r\n"), "+TOP");
  server_->retrieve_failed(ErrorKind::NotFound);
  EXPECT_EQ(drain(), "TOP:err");
  EXPECT_EQ(send("RETR 2\r\n"), "+RETR");
  server_->retrieve_started();
  server_->retrieve_failed(ErrorKind::Temporary);
  EXPECT_EQ(drain(), "RETR:err");
  EXPECT_EQ(server_->state(), State::Closed);
}

TEST_F(CommandRecordsTest, PipelinedCommandsWaitBehindAnActionAndKeepTheirOrder) {
  login();
  EXPECT_EQ(send("NOOP\r\nRETR 1\r\nDELE 1\r\nLIST 9\r\n"), "+NOOP NOOP:ok +RETR");
  server_->retrieve_started();
  server_->retrieve_finished();
  EXPECT_EQ(drain(), "RETR:ok +DELE DELE:ok +LIST LIST:err");
}

TEST_F(CommandRecordsTest, QuitEndsWithTheCommit) {
  login();
  EXPECT_EQ(send("DELE 1\r\nQUIT\r\n"), "+DELE DELE:ok +QUIT");
  server_->commit_succeeded();
  EXPECT_EQ(drain(), "QUIT:ok");
}

TEST_F(CommandRecordsTest, QuitWithAFailedCommitIsAnError) {
  login();
  EXPECT_EQ(send("QUIT\r\n"), "+QUIT");
  server_->commit_failed(ErrorKind::Temporary);
  EXPECT_EQ(drain(), "QUIT:err");
}

TEST_F(CommandRecordsTest, QuitBeforeLoginEndsAtOnce) {
  EXPECT_EQ(send("QUIT\r\n"), "+QUIT QUIT:ok");
}

TEST_F(CommandRecordsTest, StlsEndsWhenTlsStarts) {
  Options options;
  options.stls_offered = true;
  start(options);
  EXPECT_EQ(send("STLS\r\n"), "+STLS");
  server_->tls_started();
  EXPECT_EQ(drain(), "STLS:ok");
  EXPECT_EQ(send("STLS\r\n"), "+STLS STLS:err");
}

TEST_F(CommandRecordsTest, StlsWithoutACertificateIsUnknown) {
  EXPECT_EQ(send("STLS\r\n"), "+UNKNOWN UNKNOWN:err");
}

TEST_F(CommandRecordsTest, ShutdownCutsOffTheCommandInFlightOnce) {
  login();
  EXPECT_EQ(send("RETR 1\r\n"), "+RETR");
  server_->retrieve_started();
  server_->shutdown();
  EXPECT_EQ(drain(), "RETR:err");
  // Late completions after the close record nothing more.
  server_->retrieve_finished();
  server_->retrieve_failed(ErrorKind::Temporary);
  EXPECT_EQ(drain(), "");
}

TEST_F(CommandRecordsTest, LongLinesAreErrors) {
  Options options;
  options.limits.max_command_line = 16;
  start(options);
  EXPECT_EQ(send(std::string(40, 'x')), "+UNKNOWN UNKNOWN:err");
  EXPECT_EQ(send("\r\nCAPA\r\n"), "+CAPA CAPA:ok");
  // A too long AUTH continuation ends the AUTH.
  options.limits.max_sasl_line = 16;
  start(options);
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "+AUTH");
  EXPECT_EQ(send(std::string(40, 'A') + "\r\n"), "+AUTH AUTH:err");
}

TEST_F(CommandRecordsTest, TooManyBadCommandsEndEachCommandOnce) {
  EXPECT_EQ(send("A\r\nB\r\nC\r\nD\r\nE\r\n"),
            "+UNKNOWN UNKNOWN:err +UNKNOWN UNKNOWN:err +UNKNOWN UNKNOWN:err +UNKNOWN UNKNOWN:err");
  EXPECT_EQ(server_->state(), State::Closed);
  // A bad continuation that closes the session ends its AUTH once.
  Options strict;
  strict.limits.max_bad_commands_before_login = 0;
  start(strict);
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "+AUTH");
  EXPECT_EQ(send("!!!\r\n"), "+AUTH AUTH:err");
  EXPECT_EQ(server_->state(), State::Closed);
}

TEST_F(CommandRecordsTest, CommandSplitByteByByteIsRecordedOnceWhenComplete) {
  const std::string line = "CAPA\r\n";
  std::string all;
  for (char c : line) all += send(std::string(1, c));
  EXPECT_EQ(all, "+CAPA CAPA:ok");
}

TEST_F(CommandRecordsTest, AnUndrainedServerStopsRecordingAtTheLimit) {
  for (int i = 0; i < 200; ++i) {
    server_->receive("CAPA\r\n");
    while (!std::holds_alternative<NeedInput>(server_->next_event())) {
    }
  }
  EXPECT_EQ(server_->command_records().size(), kMaxCommandRecords);
}

// Whatever happens, the records form "Began [Began of the same AUTH] End" groups: no end
// without a matching begin, never two ends for one command.
TEST_F(CommandRecordsTest, RandomSessionsKeepRecordsWellFormed) {
  const std::vector<std::string> lines = {"USER a",     "PASS secret",
                                          "AUTH PLAIN", "AGFsaWNlAHNlY3JldA==",
                                          "*",          "CAPA",
                                          "STAT",       "LIST",
                                          "RETR 1",     "TOP 2 1",
                                          "DELE 1",     "RSET",
                                          "NOOP",       "UIDL",
                                          "QUIT",       "FROB",
                                          "STLS",       "",
                                          "RETR 9",     std::string(600, 'z')};
  std::mt19937 random(7);
  for (int round = 0; round < 300; ++round) {
    Options options;
    options.stls_offered = round % 2 == 0;
    start(options);
    std::vector<CommandRecord> all;
    for (int step = 0; step < 40 && server_->state() != State::Closed; ++step) {
      server_->receive(lines[random() % lines.size()] + "\r\n");
      for (int guard = 0; guard < 100; ++guard) {
        const Event event = server_->next_event();
        if (std::holds_alternative<NeedInput>(event) || std::holds_alternative<Close>(event)) break;
        if (std::holds_alternative<Waiting>(event)) continue;
        if (std::holds_alternative<Authenticate>(event)) {
          random() % 2 ? server_->auth_succeeded(kListing) : server_->auth_failed(ErrorKind::Auth);
        } else if (std::holds_alternative<Retrieve>(event)) {
          if (random() % 3 == 0) {
            server_->retrieve_failed(ErrorKind::NotFound);
          } else {
            server_->retrieve_started();
            random() % 4 == 0 ? server_->retrieve_failed(ErrorKind::Temporary) : server_->retrieve_finished();
          }
        } else if (std::holds_alternative<Commit>(event)) {
          random() % 2 ? server_->commit_succeeded() : server_->commit_failed(ErrorKind::Temporary);
        } else if (std::holds_alternative<StartTls>(event)) {
          server_->tls_started();
        }
      }
      if (random() % 10 == 0) server_->idle_timeout();
      all.insert(all.end(), server_->command_records().begin(), server_->command_records().end());
      server_->clear_command_records();
    }
    std::string_view open;  // the command begun and not yet ended
    for (const CommandRecord& record : all) {
      if (record.mark == CommandMark::Began) {
        EXPECT_TRUE(open.empty() || (open == "AUTH" && record.keyword == "AUTH")) << render(all);
        open = record.keyword;
      } else {
        EXPECT_EQ(open, record.keyword) << render(all);
        open = {};
      }
    }
  }
}

}  // namespace
}  // namespace popgate::pop3
