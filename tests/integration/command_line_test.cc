// The popgate binary's contract with whoever starts it: exit statuses, --help/--version,
// and SIGTERM closing sessions without UPDATE.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

#include "tests/integration/support/loopback.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

RunResult run_popgate(std::vector<std::string> args) {
  args.insert(args.begin(), POPGATE_BINARY);
  SpawnOptions options;
  options.argv = std::move(args);
  return run_program(std::move(options), std::chrono::seconds(10));
}

TEST(CommandLine, InvalidArgumentsAreOneLineOnStderrAndExitStatus2) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--bogus"},
                                             {"--upstream", "imap://127.0.0.1:143", "--idle-timeout", "soon"},
                                             {"--listen", "127.0.0.1:1110"},
                                             {"--upstream", "ftp://example"}}) {
    RunResult result = run_popgate(args);
    EXPECT_EQ(result.exit_code, 2) << args.front();
    EXPECT_TRUE(result.err.starts_with("popgate: ")) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_TRUE(result.out.empty());
  }
}

TEST(CommandLine, HelpAndVersion) {
  RunResult help = run_popgate({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* option : {"--listen", "--upstream", "--config", "--mailbox", "--delete-mode",
                             "--mark-seen", "--idle-timeout"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option;
  }
  RunResult version = run_popgate({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(version.out.starts_with("popgate ")) << version.out;
}

TEST(CommandLine, ListenAddressInUseExitsWithAClearError) {
  uint16_t port = free_port();
  // popgate itself holds the port; a second one must fail to start, not run deaf.
  SpawnOptions first;
  first.argv = {POPGATE_BINARY, "--listen", "127.0.0.1:" + std::to_string(port), "--upstream",
                "imap://127.0.0.1:1"};
  ChildProcess holder(first);
  ASSERT_TRUE(wait_for_port(port, std::chrono::seconds(10)));
  RunResult second =
      run_popgate({"--listen", "127.0.0.1:" + std::to_string(port), "--upstream", "imap://127.0.0.1:1"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("address already in use"), std::string::npos) << second.err;
}

using Shutdown = MailTest;

TEST_F(Shutdown, SigtermClosesSessionsWithoutUpdateAndExitsZero) {
  start_dovecot(make_small_corpus(3));
  start_popgate();
  const auto before = imap_uids();
  auto gate = popgate_login();
  EXPECT_EQ(gate->command("DELE 1").substr(0, 3), "+OK");
  ASSERT_EQ(kill(popgate_->pid(), SIGTERM), 0);
  gate->socket().set_timeout(std::chrono::seconds(10));
  EXPECT_EQ(gate->read_status_line(), "-ERR [SYS/TEMP] Server shutting down.");
  EXPECT_TRUE(gate->wait_for_close(std::chrono::seconds(5)));
  int status = popgate_->stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_wait_status(status);
  EXPECT_EQ(imap_uids(), before) << "a session that never sent QUIT deleted something";
}

}  // namespace
}  // namespace popgate::integration
