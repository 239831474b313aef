// A scripted IMAP server on 127.0.0.1 port 0, for what a real server won't do: hang on the banner,
// drop the connection after login, drop in the middle of a literal.
#include "tests/integration/support/fake_imap_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace popgate::integration {
namespace {

constexpr std::string_view kCapabilities = "IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ UIDPLUS MOVE ENABLE IDLE";

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one CRLF-terminated line into `line` (without CRLF); false on EOF or when `stop_fd` fires.
bool read_line(int fd, int stop_fd, std::string& buffer, std::string& line) {
  for (;;) {
    const size_t eol = buffer.find("\r\n");
    if (eol != std::string::npos) {
      line = buffer.substr(0, eol);
      buffer.erase(0, eol + 2);
      return true;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[1].revents != 0) return false;
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

FakeImapServer::FakeImapServer(FakeImapScript script) : script_(script) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("fake IMAP server: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

FakeImapServer::~FakeImapServer() {
  (void)::write(stop_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

void FakeImapServer::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    serve(fd);
    ::close(fd);
  }
}

void FakeImapServer::serve(int fd) {
  std::string buffer;
  std::string line;
  if (!script_.send_greeting) {
    // Silent until the peer gives up (or the test ends).
    while (read_line(fd, stop_pipe_[0], buffer, line)) {
    }
    return;
  }
  if (!send_all(fd, "* OK [CAPABILITY " + std::string(kCapabilities) + "] fake IMAP ready\r\n")) return;
  while (read_line(fd, stop_pipe_[0], buffer, line)) {
    const size_t space = line.find(' ');
    const std::string tag = line.substr(0, space);
    const std::string command = space == std::string::npos ? "" : upper(line.substr(space + 1));
    std::string reply;
    if (command.rfind("CAPABILITY", 0) == 0) {
      reply = "* CAPABILITY " + std::string(kCapabilities) + "\r\n" + tag + " OK done\r\n";
    } else if (command.rfind("AUTHENTICATE PLAIN", 0) == 0 || command.rfind("LOGIN", 0) == 0) {
      if (command == "AUTHENTICATE PLAIN") {  // no initial response: ask for it
        if (!send_all(fd, "+ \r\n") || !read_line(fd, stop_pipe_[0], buffer, line)) return;
      }
      ++logins_;
      if (!script_.login_answer.empty()) {
        if (!send_all(fd, tag + " " + script_.login_answer + "\r\n")) return;
        continue;
      }
      if (!send_all(fd, tag + " OK [CAPABILITY " + std::string(kCapabilities) + "] Logged in\r\n")) return;
      if (script_.drop_after_login) return;
      continue;
    } else if (command.rfind("SELECT", 0) == 0 || command.rfind("EXAMINE", 0) == 0) {
      reply =
          "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* 1 EXISTS\r\n* 0 RECENT\r\n"
          "* OK [UIDVALIDITY 42] UIDs valid\r\n* OK [UIDNEXT 2] next\r\n" +
          tag + " OK [READ-WRITE] Select completed\r\n";
    } else if (command.rfind("UID FETCH", 0) == 0 && command.find("RFC822.SIZE") != std::string::npos) {
      reply = "* 1 FETCH (UID 1 RFC822.SIZE " + std::to_string(script_.message_size) + ")\r\n" + tag +
              " OK Fetch completed\r\n";
    } else if (command.rfind("UID FETCH", 0) == 0 && command.find("BODY") != std::string::npos) {
      ++body_fetches_;
      std::string literal = "* 1 FETCH (UID 1 BODY[] {" + std::to_string(script_.message_size) + "}\r\n";
      literal += "Subject: truncated upstream\r\n\r\n";
      while (literal.size() < script_.message_size + 64)
        literal += "0123456789abcdefghijklmnopqrstuvwxyz\r\n";
      const size_t header_size = literal.find("}\r\n") + 3;
      literal.resize(header_size + script_.body_bytes_before_drop);
      send_all(fd, literal);
      return;  // drop mid-literal
    } else if (script_.stall_on_update &&
               (command.find("STORE") != std::string::npos || command.find("EXPUNGE") != std::string::npos ||
                command.find("MOVE") != std::string::npos || command.find("COPY") != std::string::npos)) {
      while (read_line(fd, stop_pipe_[0], buffer, line)) {
      }
      return;  // silent until the peer gives up
    } else if (command.rfind("LOGOUT", 0) == 0) {
      send_all(fd, "* BYE logging out\r\n" + tag + " OK Logout completed\r\n");
      return;
    } else {
      reply = tag + " OK done\r\n";
    }
    if (!send_all(fd, reply)) return;
  }
}

}  // namespace popgate::integration
