// A small blocking POP3 client for tests: raw status lines and raw (still dot-stuffed) multi-line bodies.
#include "tests/integration/support/pop3_client.h"

#include <stdexcept>

namespace popgate::integration {
namespace {

std::string strip_crlf(std::string line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

Pop3Client::Pop3Client(uint16_t port, std::chrono::milliseconds io_timeout) : socket_(port, io_timeout) {
  greeting_ = read_status_line();
}

std::string Pop3Client::read_status_line() {
  return strip_crlf(socket_.read_line_with_ending());
}

std::string Pop3Client::read_multiline_body() {
  std::string body;
  for (;;) {
    std::string line = socket_.read_line_with_ending();
    if (line == ".\r\n") return body;
    body += line;
  }
}

Pop3Response Pop3Client::read_multiline_response() {
  Pop3Response r;
  r.status = read_status_line();
  if (r.ok()) r.body = read_multiline_body();
  return r;
}

std::string Pop3Client::command(std::string_view line) {
  socket_.write_all(std::string(line) + "\r\n");
  return read_status_line();
}

Pop3Response Pop3Client::multiline(std::string_view line) {
  socket_.write_all(std::string(line) + "\r\n");
  return read_multiline_response();
}

std::string Pop3Client::login(std::string_view user, std::string_view password) {
  std::string status = command("USER " + std::string(user));
  if (status.rfind("+OK", 0) != 0) return status;
  return command("PASS " + std::string(password));
}

std::string dot_unstuff(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  bool line_start = true;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (line_start && c == '.') {
      line_start = false;
      continue;
    }
    out += c;
    line_start = c == '\n';
  }
  return out;
}

std::optional<uint64_t> first_number(std::string_view status) {
  size_t i = status.find_first_of("0123456789");
  if (i == std::string_view::npos) return std::nullopt;
  uint64_t value = 0;
  for (; i < status.size() && status[i] >= '0' && status[i] <= '9'; ++i)
    value = value * 10 + (status[i] - '0');
  return value;
}

}  // namespace popgate::integration
