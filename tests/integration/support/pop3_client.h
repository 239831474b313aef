// A small blocking POP3 client for tests: raw status lines and raw (still dot-stuffed) multi-line bodies.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tests/integration/support/buffered_socket.h"

namespace popgate::integration {

struct Pop3Response {
  std::string status;  // first line without CRLF, e.g. "+OK 2 messages"
  std::string body;    // multi-line data as sent: dot-stuffed, CRLFs kept, terminating ".\r\n" removed
  bool ok() const { return status.rfind("+OK", 0) == 0; }
};

class Pop3Client {
 public:
  // Connects and reads the greeting; throws std::runtime_error on failure.
  explicit Pop3Client(uint16_t port, std::chrono::milliseconds io_timeout = std::chrono::seconds(30));

  const std::string& greeting() const { return greeting_; }

  // Sends `line` + CRLF and returns the status line (without CRLF).
  std::string command(std::string_view line);
  // Sends `line` + CRLF; if the answer is +OK reads the multi-line body too.
  Pop3Response multiline(std::string_view line);

  // USER + PASS; returns the PASS status line (or the USER one if USER failed).
  std::string login(std::string_view user, std::string_view password);

  // Lower level, for pipelining and malformed input.
  void send_raw(std::string_view bytes) { socket_.write_all(bytes); }
  std::string read_status_line();  // without CRLF
  std::string read_multiline_body();
  Pop3Response read_multiline_response();  // status line, then the body if it is +OK
  size_t read_some(char* out, size_t max) { return socket_.read_some(out, max); }

  bool wait_for_close(std::chrono::milliseconds timeout, std::string* extra = nullptr) {
    return socket_.wait_for_close(timeout, extra);
  }
  bool has_pending_data(std::chrono::milliseconds wait) { return socket_.has_pending_data(wait); }
  void drop() { socket_.close(); }
  BufferedSocket& socket() { return socket_; }

 private:
  BufferedSocket socket_;
  std::string greeting_;
};

// RFC 1939 §3: removes the termination octet from lines that start with "." (the client side of
// byte-stuffing).
std::string dot_unstuff(std::string_view body);

// The number in "+OK 1234 octets" (RETR) or "+OK 3 5678" (STAT: the first number); nullopt if none.
std::optional<uint64_t> first_number(std::string_view status);

}  // namespace popgate::integration
