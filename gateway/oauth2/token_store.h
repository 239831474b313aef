// TokenStore: refresh tokens on disk, one file per OAuth2 client in the token directory (which
// may be a mounted volume), replaced atomically: a crash at any point leaves the old token or
// the new one, never neither and never a torn file.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/io/loop.h"
#include "gateway/io/threadpool_work.h"
#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate::oauth2 {

// The steps of one atomic replacement, for tests that kill a writer between two of them.
enum class WriteStage { TempWritten, TempSynced, Renamed, DirectorySynced };

// "<dir>/<client>.json", and the temporary files next to it.
std::string token_file_path(const std::string& dir, std::string_view client);

// Blocking: write a temporary file (mode 0600, O_EXCL), fsync it, rename it over the token file,
// fsync the directory. `at_stage` runs after each step (tests only). Errors are Temporary and
// name the path and errno text.
Status write_token_file(const std::string& dir, std::string_view client, const SecretString& refresh_token,
                        const std::function<void(WriteStage)>& at_stage = {});

// Blocking: the stored refresh token, nothing when there is no file; an Error (Permanent) for an
// unreadable or unparseable file. At start-up (`remove_leftovers`) it also removes temporary files
// a crash left behind; later that could remove the file of a write in progress.
Result<std::optional<SecretString>> read_token_file(const std::string& dir, std::string_view client,
                                                    bool remove_leftovers = false);

// The asynchronous side for the loop: writes run on libuv's threadpool, one at a time per
// client (a newer token waiting for an older write replaces any token queued before it, so the
// file always ends with the newest).
class TokenStore {
 public:
  using Done = std::function<void(Status)>;
  TokenStore(io::Loop& loop, std::string dir);
  // Writes still running finish; their callbacks, and those of reads, do not run.
  ~TokenStore();
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  const std::string& dir() const { return dir_; }
  // `done` (optional) runs on the loop thread once this token (or a newer one) is on disk.
  void save(const std::string& client, SecretString refresh_token, Done done = {});
  // Reads the token file on the threadpool (`popgate oauth login` may have replaced it while
  // popgate runs); `done` runs on the loop thread.
  void load(const std::string& client, std::function<void(Result<std::optional<SecretString>>)> done);
  // Saves of this client queued or running: for tests and shutdown.
  bool idle() const;

 private:
  struct Pending;
  void start_next(const std::string& client);
  void finish_write(const std::string& client, const Status& status);

  io::Loop& loop_;
  std::string dir_;
  std::map<std::string, Pending, std::less<>> pending_;
  std::map<uint64_t, io::ThreadpoolWorkPtr> loads_;  // reads running, by number
  uint64_t last_load_ = 0;
};

}  // namespace popgate::oauth2
