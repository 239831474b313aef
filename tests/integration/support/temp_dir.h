// A private temporary directory that is removed, with everything in it, when it goes out of scope.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace popgate::integration {

class TempDir {
 public:
  // Creates /tmp/popgate-<prefix>-XXXXXX (or under $TMPDIR). Throws std::runtime_error on failure.
  explicit TempDir(std::string_view prefix = "it");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Whole-file helpers for fixtures; both throw std::runtime_error on failure.
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view bytes);

}  // namespace popgate::integration
