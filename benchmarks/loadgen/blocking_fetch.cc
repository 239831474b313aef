// Blocking one-message fetches over POP3 and IMAP, reading bodies in 256 KiB chunks without keeping them.
#include "benchmarks/loadgen/blocking_fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "benchmarks/loadgen/pop3_body_scanner.h"
#include "benchmarks/loadgen/pop3_load_session.h"

namespace popgate::bench {
namespace {

// A connected socket with a read buffer: lines, counted skips, and POP3 multi-line bodies.
class BlockingConnection {
 public:
  explicit BlockingConnection(const LoadOptions& options) : buffer_(256 * 1024) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(options.port);
    if (fd_ < 0 || ::inet_pton(AF_INET, options.host.c_str(), &address.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~BlockingConnection() { ::close(fd_); }

  void send_line(const std::string& line) {
    const std::string out = line + "\r\n";
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      sent += static_cast<size_t>(n);
    }
  }

  std::string read_line() {
    std::string line;
    for (;;) {
      if (begin_ == end_) fill();
      const char* start = buffer_.data() + begin_;
      const void* lf = std::memchr(start, '\n', end_ - begin_);
      const size_t take = lf ? static_cast<size_t>(static_cast<const char*>(lf) - start) + 1 : end_ - begin_;
      line.append(start, take);
      begin_ += take;
      if (lf) return line;
      if (line.size() > 65536) throw std::runtime_error("line too long");
    }
  }

  // Skips exactly `count` octets.
  void skip(uint64_t count) {
    while (count > 0) {
      if (begin_ == end_) fill();
      const size_t take = static_cast<size_t>(std::min<uint64_t>(count, end_ - begin_));
      begin_ += take;
      count -= take;
    }
  }

  // Reads a POP3 multi-line body up to and including ".CRLF" without copying it; returns the
  // octets read.
  uint64_t skip_multiline() {
    Pop3BodyScanner scanner;
    uint64_t octets = 0;
    for (bool done = false; !done;) {
      if (begin_ == end_) fill();
      const size_t used = scanner.scan(buffer_.data() + begin_, end_ - begin_, done);
      begin_ += used;
      octets += used;
    }
    return octets;
  }

  uint64_t received() const { return received_; }

 private:
  void fill() {
    const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (n <= 0) throw std::runtime_error(n == 0 ? "server closed the connection" : std::strerror(errno));
    begin_ = 0;
    end_ = static_cast<size_t>(n);
    received_ += static_cast<uint64_t>(n);
  }

  int fd_ = -1;
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t received_ = 0;
};

void expect_ok(const std::string& line, const char* what) {
  if (!line.starts_with("+OK")) throw std::runtime_error(std::string(what) + ": " + line.substr(0, 80));
}

std::string imap_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Reads lines until the one tagged `tag`; throws unless it is OK. Literals in untagged lines are skipped.
void imap_wait_tagged(BlockingConnection& c, const std::string& tag) {
  for (;;) {
    const std::string line = c.read_line();
    if (line.starts_with(tag + " ")) {
      if (line.compare(tag.size() + 1, 2, "OK") != 0) throw std::runtime_error("IMAP: " + line.substr(0, 80));
      return;
    }
    if (line.size() >= 3 && line[line.size() - 3] == '}') {
      const size_t open = line.rfind('{');
      if (open != std::string::npos) c.skip(std::stoull(line.substr(open + 1)));
    }
  }
}

nlohmann::json transfer_report(uint64_t octets, uint64_t started_ns) {
  const double seconds = static_cast<double>(monotonic_ns() - started_ns) / 1e9;
  return {
      {"octets", octets}, {"seconds", seconds}, {"mb_per_s", static_cast<double>(octets) / seconds / 1e6}};
}

}  // namespace

nlohmann::json run_retr_one(const LoadOptions& options) {
  BlockingConnection c(options);
  expect_ok(c.read_line(), "greeting");
  c.send_line("USER " + options.user_prefix + std::to_string(options.user_first));
  expect_ok(c.read_line(), "USER");
  c.send_line("PASS " + options.password);
  expect_ok(c.read_line(), "PASS");
  const uint64_t started = monotonic_ns();
  c.send_line("RETR " + std::to_string(options.message));
  expect_ok(c.read_line(), "RETR");
  const uint64_t octets = c.skip_multiline();
  nlohmann::json report = transfer_report(octets, started);
  c.send_line("QUIT");
  expect_ok(c.read_line(), "QUIT");
  report["mode"] = "retr-one";
  return report;
}

nlohmann::json run_imap_fetch_one(const LoadOptions& options) {
  BlockingConnection c(options);
  c.read_line();
  c.send_line("a LOGIN " + imap_quoted(options.user_prefix + std::to_string(options.user_first)) + " " +
              imap_quoted(options.password));
  imap_wait_tagged(c, "a");
  c.send_line("b SELECT INBOX");
  imap_wait_tagged(c, "b");
  const uint64_t started = monotonic_ns();
  const uint64_t before = c.received();
  c.send_line("c FETCH " + std::to_string(options.message) + " BODY.PEEK[]");
  imap_wait_tagged(c, "c");
  nlohmann::json report = transfer_report(c.received() - before, started);
  c.send_line("d LOGOUT");
  report["mode"] = "imap-fetch-one";
  return report;
}

}  // namespace popgate::bench
