// TokenStore: refresh tokens persisted atomically. A writer killed with SIGKILL between any two
// steps of a rotation leaves the old token or the new one, in a parseable file.
#include "gateway/oauth2/token_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::oauth2 {
namespace {

class TokenDir {
 public:
  TokenDir() {
    char path[] = "/tmp/popgate-tokens-XXXXXX";
    path_ = ::mkdtemp(path);
  }
  ~TokenDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string stored(const std::string& dir, const char* client) {
  auto read = read_token_file(dir, client);
  EXPECT_TRUE(read.ok()) << (read.ok() ? "" : read.error().detail);
  if (!read.ok() || !read.value()) return "<none>";
  return std::string(read.value()->reveal());
}

TEST(OAuth2TokenStore, WritesMode0600AndReadsBack) {
  TokenDir dir;
  EXPECT_EQ(stored(dir.path(), "m365"), "<none>");
  ASSERT_TRUE(write_token_file(dir.path(), "m365", SecretString("rt-1")).ok());
  EXPECT_EQ(stored(dir.path(), "m365"), "rt-1");
  struct stat info {};
  ASSERT_EQ(::stat(token_file_path(dir.path(), "m365").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_TRUE(write_token_file(dir.path(), "m365", SecretString("rt-2")).ok());
  EXPECT_EQ(stored(dir.path(), "m365"), "rt-2");
  // Only the token file is left: no temporary files.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(OAuth2TokenStore, GarbageFileIsAnErrorNotAnEmptyToken) {
  TokenDir dir;
  { std::ofstream(token_file_path(dir.path(), "x")) << "{\"refresh"; }
  auto read = read_token_file(dir.path(), "x");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().kind, ErrorKind::Permanent);
}

TEST(OAuth2TokenStore, UnwritableDirectoryIsTemporaryError) {
  auto status = write_token_file("/nonexistent/popgate", "x", SecretString("rt"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::Temporary);
  EXPECT_NE(status.error().detail.find("/nonexistent/popgate"), std::string::npos);
}

// The child rotates "old" to "new" and stops itself at `stage`; the parent kills it with SIGKILL
// there, as a crash or an OOM kill would.
class KilledDuringRotation : public ::testing::TestWithParam<int> {};

TEST_P(KilledDuringRotation, LeavesTheOldOrTheNewToken) {
  TokenDir dir;
  ASSERT_TRUE(write_token_file(dir.path(), "m365", SecretString("old-token")).ok());
  const auto stop_at = static_cast<WriteStage>(GetParam());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Status status = write_token_file(dir.path(), "m365", SecretString("new-token"), [&](WriteStage stage) {
      if (stage == stop_at) ::raise(SIGSTOP);
    });
    ::_exit(status.ok() ? 0 : 3);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(wstatus)) << "the child finished without reaching the stage";
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus));

  // Before the rename the old token is there; from the rename on, the new one.
  const char* expected =
      stop_at == WriteStage::TempWritten || stop_at == WriteStage::TempSynced ? "old-token" : "new-token";
  auto read = read_token_file(dir.path(), "m365", /*remove_leftovers=*/true);
  ASSERT_TRUE(read.ok()) << read.error().detail;
  ASSERT_TRUE(read.value());
  EXPECT_EQ(read.value()->reveal(), expected);
  // The start-up read removed the killed writer's temporary file.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

INSTANTIATE_TEST_SUITE_P(EveryStage, KilledDuringRotation,
                         ::testing::Values(static_cast<int>(WriteStage::TempWritten),
                                           static_cast<int>(WriteStage::TempSynced),
                                           static_cast<int>(WriteStage::Renamed),
                                           static_cast<int>(WriteStage::DirectorySynced)));

TEST(OAuth2TokenStore, AsyncSavesEndWithTheNewestToken) {
  TokenDir dir;
  io::Loop loop;
  TokenStore store(loop, dir.path());
  int done = 0;
  for (int i = 1; i <= 20; ++i) {
    store.save("g", SecretString("rt-" + std::to_string(i)), [&](Status status) {
      EXPECT_TRUE(status.ok());
      ++done;
    });
  }
  ASSERT_TRUE(io::testing::run_until(loop, [&] { return done == 20 && store.idle(); }));
  EXPECT_EQ(stored(dir.path(), "g"), "rt-20");
  std::optional<std::string> loaded;
  store.load("g", [&](Result<std::optional<SecretString>> result) {
    loaded = result.ok() && result.value() ? std::string(result.value()->reveal()) : "<error>";
  });
  ASSERT_TRUE(io::testing::run_until(loop, [&] { return loaded.has_value(); }));
  EXPECT_EQ(*loaded, "rt-20");
}

}  // namespace
}  // namespace popgate::oauth2
