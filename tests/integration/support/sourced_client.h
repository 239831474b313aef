// SourcedClient: a blocking POP3 connection to 127.0.0.1 from a chosen loopback source address
// (all of 127.0.0.0/8 is local, but popgate sees a different client address).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace popgate::integration {

// A blocking POP3 connection to 127.0.0.1:port from a chosen loopback source address. Lines are
// returned as sent, CRLF included, so answers can be compared byte for byte.
class SourcedClient {
 public:
  SourcedClient(const char* source, uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    timeval timeout{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      const std::string error = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("connect from " + std::string(source) + ": " + error);
    }
  }
  ~SourcedClient() { ::close(fd_); }
  SourcedClient(const SourcedClient&) = delete;
  SourcedClient& operator=(const SourcedClient&) = delete;

  // The next line with its CRLF; "" on EOF.
  std::string line() {
    for (;;) {
      if (auto lf = buffer_.find('\n'); lf != std::string::npos) {
        std::string out = buffer_.substr(0, lf + 1);
        buffer_.erase(0, lf + 1);
        return out;
      }
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("recv timed out or failed");
      if (n == 0) return {};
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  std::string command(std::string_view text) {
    std::string bytes = std::string(text) + "\r\n";
    if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
      throw std::runtime_error("send failed");
    }
    return line();
  }
  std::string login(std::string_view user, std::string_view password) {
    const std::string reply = command("USER " + std::string(user));
    if (reply.rfind("+OK", 0) != 0) return reply;
    return command("PASS " + std::string(password));
  }
  // True once the server has closed the connection (nothing more to read).
  bool closed() { return line().empty(); }

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace popgate::integration
