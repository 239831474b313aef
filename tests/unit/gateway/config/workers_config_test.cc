// --workers: the option, its default, and that SIGHUP only warns about a change.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/config/config_reload.h"
#include "gateway/workers/worker_pool.h"

namespace popgate {
namespace {

Config parse(std::vector<const char*> args, std::vector<std::string> environment = {}) {
  args.insert(args.begin(), {"popgate", "--upstream", "imap://127.0.0.1:143"});
  Config config;
  std::string out;
  parse_command_line(static_cast<int>(args.size()), args.data(), environment, config, out);
  return config;
}

TEST(WorkersOption, FromTheCommandLineTheEnvironmentOrTheDefault) {
  EXPECT_EQ(parse({}).workers, 0u) << "0: main picks one per CPU";
  EXPECT_EQ(parse({"--workers", "4"}).workers, 4u);
  EXPECT_EQ(parse({}, {"POPGATE_WORKERS=3"}).workers, 3u);
  EXPECT_EQ(parse({"--workers", "64"}).workers, 64u);
}

std::string error_of(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(WorkersOption, MoreThanSixtyFourOrNotANumberIsAnError) {
  EXPECT_EQ(error_of({"--workers", "65"}), "workers: expected a whole number from 0 to 64, got '65'");
  EXPECT_EQ(error_of({"--workers", "two"}), "workers: expected a whole number from 0 to 64, got 'two'");
  EXPECT_NE(error_of({"--workers", "-1"}), "");
}

TEST(WorkersOption, TheDefaultIsTheUsableCpusWithinOneToSixtyFour) {
  const unsigned count = default_worker_count();
  EXPECT_GE(count, 1u);
  EXPECT_LE(count, 64u);
  EXPECT_LE(count, uv_available_parallelism()) << "more loops than CPUs this process may run on";
}

TEST(WorkersOption, AChangeNeedsARestart) {
  Config before = parse({"--workers", "2"});
  Config after = parse({"--workers", "3"});
  EXPECT_EQ(changed_settings(before, after), std::vector<std::string>{"workers"});
  EXPECT_TRUE(needs_restart("workers"));
}

}  // namespace
}  // namespace popgate
