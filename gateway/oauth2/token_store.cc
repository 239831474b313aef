// TokenStore: atomic replacement of refresh-token files (write, fsync, rename, fsync directory).
#include "gateway/oauth2/token_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "protocol/common/str_cat.h"

namespace popgate::oauth2 {
namespace {

constexpr size_t kMaxTokenFile = 64 * 1024;

Error io_error(const std::string& what, const std::string& path, int error) {
  return make_error(ErrorKind::Temporary, what + " " + path + ": " + std::strerror(error));
}

std::string temp_prefix(std::string_view client) {
  return str_cat(".", client, ".json.tmp.");
}

// Writes all of `data`, retrying short writes and EINTR.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

}  // namespace

std::string token_file_path(const std::string& dir, std::string_view client) {
  return dir + "/" + std::string(client) + ".json";
}

Status write_token_file(const std::string& dir, std::string_view client, const SecretString& refresh_token,
                        const std::function<void(WriteStage)>& at_stage) {
  static std::atomic<uint64_t> counter{0};
  const std::string final_path = token_file_path(dir, client);
  // Unique per process and write: two writers never share a temporary file.
  const std::string temp_path =
      dir + "/" + temp_prefix(client) + std::to_string(::getpid()) + "." + std::to_string(counter++);
  SecretString content(nlohmann::json{{"client", client}, {"refresh_token", refresh_token.reveal()}}.dump() +
                       "\n");

  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create", temp_path, errno);
  bool written = write_all(fd, content.reveal());
  int error = errno;
  if (written && at_stage) at_stage(WriteStage::TempWritten);
  bool synced = written && ::fsync(fd) == 0;
  if (written && !synced) error = errno;
  ::close(fd);
  if (!synced) {
    ::unlink(temp_path.c_str());
    return io_error(written ? "cannot fsync" : "cannot write", temp_path, error);
  }
  if (at_stage) at_stage(WriteStage::TempSynced);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    error = errno;
    ::unlink(temp_path.c_str());
    return io_error("cannot rename to", final_path, error);
  }
  if (at_stage) at_stage(WriteStage::Renamed);
  // The rename itself is durable only once the directory is on disk.
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return io_error("cannot open", dir, errno);
  bool dir_synced = ::fsync(dir_fd) == 0;
  error = errno;
  ::close(dir_fd);
  // Some network file systems refuse fsync on a directory: the rename is done all the same.
  if (!dir_synced && error != EINVAL && error != EROFS) return io_error("cannot fsync", dir, error);
  if (at_stage) at_stage(WriteStage::DirectorySynced);
  return Ok{};
}

Result<std::optional<SecretString>> read_token_file(const std::string& dir, std::string_view client,
                                                    bool remove_leftovers) {
  // A crash between creating and renaming a temporary file leaves it behind: it never counts.
  DIR* listing = remove_leftovers ? ::opendir(dir.c_str()) : nullptr;
  if (listing != nullptr) {
    const std::string prefix = temp_prefix(client);
    std::vector<std::string> leftovers;
    while (dirent* entry = ::readdir(listing)) {
      if (std::string_view(entry->d_name).starts_with(prefix)) leftovers.emplace_back(entry->d_name);
    }
    ::closedir(listing);
    for (const std::string& name : leftovers) ::unlink((dir + "/" + name).c_str());
  }
  const std::string path = token_file_path(dir, client);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<SecretString>();
    return make_error(ErrorKind::Permanent, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0 || text.size() + static_cast<size_t>(got) > kMaxTokenFile) break;
    text.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  SecretString wiped(std::move(text));
  nlohmann::json parsed = nlohmann::json::parse(wiped.reveal(), nullptr, /*allow_exceptions=*/false);
  auto token = parsed.is_object() ? parsed.find("refresh_token") : parsed.end();
  if (parsed.is_discarded() || !parsed.is_object() || token == parsed.end() || !token->is_string())
    return make_error(ErrorKind::Permanent, path + ": not a popgate token file");
  return std::optional<SecretString>(SecretString(std::move(token->get_ref<std::string&>())));
}

struct TokenStore::Pending {
  io::ThreadpoolWorkPtr write;        // the write running now, if any
  std::optional<SecretString> next;   // the newest token not yet handed to a write
  std::vector<Done> waiting_next;     // callbacks for `next`
  std::vector<Done> waiting_current;  // callbacks for the write running now
};

TokenStore::TokenStore(io::Loop& loop, std::string dir) : loop_(loop), dir_(std::move(dir)) {}

// Destroying the handles cancels the completions; the writes themselves still finish.
TokenStore::~TokenStore() = default;

bool TokenStore::idle() const {
  for (const auto& [client, pending] : pending_) {
    if (pending.write || pending.next) return false;
  }
  return true;
}

void TokenStore::save(const std::string& client, SecretString refresh_token, Done done) {
  Pending& pending = pending_[client];
  pending.next = std::move(refresh_token);
  if (done) pending.waiting_next.push_back(std::move(done));
  if (!pending.write) start_next(client);
}

void TokenStore::start_next(const std::string& client) {
  Pending& pending = pending_[client];
  if (!pending.next) return;
  auto token = std::make_shared<SecretString>(std::move(*pending.next));
  pending.next.reset();
  pending.waiting_current = std::move(pending.waiting_next);
  pending.waiting_next.clear();
  auto status = std::make_shared<Status>(Ok{});
  pending.write = io::run_on_threadpool(
      loop_, [dir = dir_, client, token, status] { *status = write_token_file(dir, client, *token); },
      [this, client, status] { finish_write(client, *status); });
}

void TokenStore::finish_write(const std::string& client, const Status& status) {
  Pending& pending = pending_[client];
  pending.write.reset();  // from its own completion, which has let go of it
  std::vector<Done> done = std::move(pending.waiting_current);
  pending.waiting_current.clear();
  start_next(client);
  // A newer token may already be queued: the caller of an older save still learns how its write went.
  for (auto& callback : done) callback(status);
}

void TokenStore::load(const std::string& client,
                      std::function<void(Result<std::optional<SecretString>>)> done) {
  auto result = std::make_shared<Result<std::optional<SecretString>>>(std::optional<SecretString>());
  const uint64_t id = ++last_load_;
  loads_[id] = io::run_on_threadpool(
      loop_, [dir = dir_, client, result] { *result = read_token_file(dir, client); },
      [this, id, result, done = std::move(done)] {
        loads_.erase(id);
        done(std::move(*result));
      });
}

}  // namespace popgate::oauth2
