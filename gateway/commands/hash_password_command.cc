// `popgate hash-password`: reads passwords, prints libxcrypt hashes with fresh salts.
#include "gateway/commands/hash_password_command.h"

#include <termios.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "gateway/identity/password_hash.h"

namespace popgate {
namespace {

constexpr std::string_view kUsage =
    "Usage: popgate hash-password [--method yescrypt|bcrypt|sha512-crypt] [--password-stdin]\n"
    "Prints the crypt(3) hash of a password for the accounts file's \"password_hash\".\n"
    "  --method M          yescrypt (default), bcrypt or sha512-crypt\n"
    "  --password-stdin    every line of standard input is a password: one hash a line, no prompt\n";

// A line without its CR LF, into a SecretString (wiped when done); false at the end of input.
bool read_password_line(std::istream& in, SecretString& password) {
  std::string line;
  if (!std::getline(in, line)) {
    SecretString wiped(std::move(line));
    return false;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  password = SecretString(std::move(line));
  return true;
}

// Echo off on the terminal while it lives (restored even when reading fails).
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

bool prompt(std::istream& in, std::ostream& err, int terminal_fd, const char* question,
            SecretString& password) {
  err << question << std::flush;
  EchoOff quiet(terminal_fd);
  bool read = read_password_line(in, password);
  err << "\n";
  return read;
}

int print_hash(const SecretString& password, HashMethod method, std::ostream& out, std::ostream& err) {
  if (password.empty()) {
    err << "popgate hash-password: empty password\n";
    return 1;
  }
  auto hashed = make_password_hash(password, method);
  if (!hashed) {
    err << "popgate hash-password: " << hashed.error().detail << "\n";
    return 1;
  }
  out << hashed.value() << "\n";
  return 0;
}

}  // namespace

int run_hash_password_command(int argc, const char* const* argv, std::istream& in, std::ostream& out,
                              std::ostream& err, int terminal_fd) {
  HashMethod method = HashMethod::Yescrypt;
  bool from_stdin = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return 0;
    }
    if (arg == "--password-stdin") {
      from_stdin = true;
      continue;
    }
    std::string_view value;
    if (arg.starts_with("--method=")) {
      value = arg.substr(9);
    } else if (arg == "--method" && i + 1 < argc) {
      value = argv[++i];
    } else {
      err << "popgate hash-password: unexpected argument '" << arg << "'\n" << kUsage;
      return 2;
    }
    auto parsed = parse_hash_method(value);
    if (!parsed) {
      err << "popgate hash-password: --method: expected yescrypt, bcrypt or sha512-crypt, got '" << value
          << "'\n";
      return 2;
    }
    method = *parsed;
  }

  SecretString password;
  if (from_stdin) {
    bool any = false;
    while (read_password_line(in, password)) {
      any = true;
      if (int status = print_hash(password, method, out, err); status != 0) return status;
    }
    if (!any) err << "popgate hash-password: no password on standard input\n";
    return any ? 0 : 1;
  }
  if (terminal_fd >= 0 && isatty(terminal_fd)) {
    SecretString again;
    if (!prompt(in, err, terminal_fd, "Password: ", password) ||
        !prompt(in, err, terminal_fd, "Again: ", again)) {
      err << "popgate hash-password: no password\n";
      return 1;
    }
    if (password.reveal() != again.reveal()) {
      err << "popgate hash-password: the passwords differ\n";
      return 1;
    }
    return print_hash(password, method, out, err);
  }
  if (!read_password_line(in, password)) {
    err << "popgate hash-password: no password on standard input\n";
    return 1;
  }
  return print_hash(password, method, out, err);
}

}  // namespace popgate
