// A blocking loopback TCP connection with a read buffer and a deadline on every read: the base of the
// test clients.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace popgate::integration {

class BufferedSocket {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error on failure.
  BufferedSocket(uint16_t port, std::chrono::milliseconds io_timeout);
  ~BufferedSocket();
  BufferedSocket(const BufferedSocket&) = delete;
  BufferedSocket& operator=(const BufferedSocket&) = delete;

  void set_timeout(std::chrono::milliseconds io_timeout) { timeout_ = io_timeout; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Writes every byte; throws if the peer is gone.
  void write_all(std::string_view bytes);

  // The next line including its CRLF (or LF); throws on EOF or timeout.
  std::string read_line_with_ending();

  // Exactly n bytes; throws on EOF or timeout.
  std::string read_exact(size_t n);

  // Up to max bytes from the buffer or one recv(); 0 means EOF. Throws on timeout.
  size_t read_some(char* out, size_t max);

  // Waits for the peer to close. Returns true on EOF (or reset); anything received meanwhile goes to
  // `extra` if given. False on timeout.
  bool wait_for_close(std::chrono::milliseconds timeout, std::string* extra = nullptr);

  // True if the peer has sent something that has not been read yet (waits at most `wait`).
  bool has_pending_data(std::chrono::milliseconds wait);

  // Closes the socket at once (no QUIT): the "dropped connection" of a test.
  void close();
  bool is_open() const { return fd_ >= 0; }

 private:
  // Reads more into the buffer; false on EOF. Throws on timeout or error.
  bool fill(std::chrono::steady_clock::time_point deadline);
  void compact();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  size_t pos_ = 0;
};

}  // namespace popgate::integration
