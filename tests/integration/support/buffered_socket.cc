// A blocking loopback TCP connection with a read buffer and a deadline on every read: the base of the
// test clients.
#include "tests/integration/support/buffered_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

BufferedSocket::BufferedSocket(uint16_t port, std::chrono::milliseconds io_timeout)
    : fd_(connect_loopback(port)), timeout_(io_timeout) {}

BufferedSocket::~BufferedSocket() {
  close();
}

void BufferedSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void BufferedSocket::write_all(std::string_view bytes) {
  if (fd_ < 0) throw std::runtime_error("write on a closed test socket");
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void BufferedSocket::compact() {
  if (pos_ > 0 && pos_ >= buffer_.size() / 2) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
}

bool BufferedSocket::fill(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0) throw std::runtime_error("read on a closed test socket");
  compact();
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (r == 0) throw std::runtime_error("timed out waiting for the server");
    const size_t old = buffer_.size();
    buffer_.resize(old + kReadChunk);
    ssize_t n = ::recv(fd_, buffer_.data() + old, kReadChunk, 0);
    const int saved = errno;
    buffer_.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n > 0) return true;
    if (n == 0) return false;
    if (saved == EINTR || saved == EAGAIN) continue;
    if (saved == ECONNRESET) return false;
    throw std::runtime_error(std::string("recv: ") + std::strerror(saved));
  }
}

std::string BufferedSocket::read_line_with_ending() {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  size_t scanned = pos_;
  for (;;) {
    size_t lf = buffer_.find('\n', scanned);
    if (lf != std::string::npos) {
      std::string line = buffer_.substr(pos_, lf + 1 - pos_);
      pos_ = lf + 1;
      return line;
    }
    scanned = buffer_.size();
    const size_t consumed = pos_;
    if (!fill(deadline)) {
      throw std::runtime_error("connection closed by the server (unterminated: \"" +
                               buffer_.substr(pos_, 200) + "\")");
    }
    scanned -= consumed - pos_;  // fill() may have compacted the buffer
  }
}

std::string BufferedSocket::read_exact(size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (buffer_.size() - pos_ < n) {
    if (!fill(deadline)) throw std::runtime_error("connection closed by the server in the middle of data");
  }
  std::string out = buffer_.substr(pos_, n);
  pos_ += n;
  return out;
}

size_t BufferedSocket::read_some(char* out, size_t max) {
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
    if (!fill(std::chrono::steady_clock::now() + timeout_)) return 0;
  }
  const size_t n = std::min(max, buffer_.size() - pos_);
  std::memcpy(out, buffer_.data() + pos_, n);
  pos_ += n;
  return n;
}

bool BufferedSocket::wait_for_close(std::chrono::milliseconds timeout, std::string* extra) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (extra != nullptr) extra->append(buffer_, pos_);
  buffer_.clear();
  pos_ = 0;
  try {
    while (fill(deadline)) {
      if (extra != nullptr) extra->append(buffer_);
      buffer_.clear();
    }
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

bool BufferedSocket::has_pending_data(std::chrono::milliseconds wait) {
  if (pos_ < buffer_.size()) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
}

}  // namespace popgate::integration
