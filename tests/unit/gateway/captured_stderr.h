// CapturedStderr: fd 2 goes to a temporary file while it lives, for tests of log lines.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace popgate::testing {

class CapturedStderr {
 public:
  CapturedStderr() {
    char path[] = "/tmp/popgate-stderr-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) std::abort();
    path_ = path;
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~CapturedStderr() {
    restore();
    unlink(path_.c_str());
  }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  // Everything written so far; stderr goes back to where it was.
  std::string text() {
    restore();
    std::ifstream in(path_);
    std::stringstream contents;
    contents << in.rdbuf();
    return contents.str();
  }

  std::vector<std::string> lines() {
    std::vector<std::string> out;
    std::istringstream in(text());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }

  std::string path_;
  int saved_ = -1;
};

}  // namespace popgate::testing
