// A private Dovecot (IMAP + its own POP3 as the oracle) on loopback high ports, in its own temp dir.
#include "tests/integration/support/dovecot_server.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <system_error>
#include <thread>

#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

void chown_to_mail_user(const fs::path& path) {
  if (::chown(path.c_str(), DovecotServer::kMailUid, DovecotServer::kMailUid) != 0) {
    throw std::system_error(errno, std::generic_category(), "chown " + path.string());
  }
}

void make_maildir(const fs::path& root) {
  fs::create_directories(root);
  chown_to_mail_user(root);
  for (const char* sub : {"cur", "new", "tmp"}) {
    fs::create_directory(root / sub);
    chown_to_mail_user(root / sub);
  }
}

}  // namespace

DovecotServer::DovecotServer() : dir_("dovecot") {
  if (::geteuid() != 0) {
    throw std::runtime_error("the Dovecot fixture must run as root: mail processes switch to uid 65534");
  }
  // Login processes (dovenull) and mail processes (nobody) must reach base_dir and the homes.
  fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                   fs::perms::others_read | fs::perms::others_exec);
  fs::create_directory(dir_ / "home");
  write_file(dir_ / "passwd", "");
}

DovecotServer::~DovecotServer() {
  stop();
}

void DovecotServer::enable_tls(const fs::path& cert, const fs::path& key) {
  tls_cert_ = cert;
  tls_key_ = key;
}

void DovecotServer::enable_oauth2(const fs::path& oauth2_settings) {
  oauth2_settings_ = oauth2_settings;
}

void DovecotServer::add_user(std::string_view user, std::string_view password) {
  const fs::path home = dir_ / "home" / std::string(user);
  fs::create_directories(home);
  chown_to_mail_user(home);
  make_maildir(home / "Maildir");
  std::string passwd = read_file(dir_ / "passwd");
  passwd += std::string(user) + ":{PLAIN}" + std::string(password) + ":" + std::to_string(kMailUid) + ":" +
            std::to_string(kMailUid) + "::" + home.string() + "\n";
  write_file(dir_ / "passwd", passwd);
  users_.emplace_back(user);
}

namespace {

// @DIR@, @INSTANCE@, @UIDL_FORMAT@, @IMAP_PORT@, @POP3_PORT@, @SSL@, @IMAPS_PORT@, @AUTH_MECHANISMS@,
// @OAUTH2_PASSDB@ and @PASSWD_MECHANISMS@ are filled in by write_config().
constexpr std::string_view kConfigTemplate =
    R"(# Written by popgate's integration tests: a private instance on loopback.
base_dir = @DIR@/run
state_dir = @DIR@/state
instance_name = @INSTANCE@
log_path = @DIR@/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
@SSL@
disable_plaintext_auth = no
auth_mechanisms = @AUTH_MECHANISMS@
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_max_userip_connections = 1000
pop3_uidl_format = @UIDL_FORMAT@
@OAUTH2_PASSDB@passdb {
  driver = passwd-file
  args = scheme=PLAIN @DIR@/passwd@PASSWD_MECHANISMS@
}
userdb {
  driver = passwd-file
  args = @DIR@/passwd
}
service imap-login {
  inet_listener imap {
    port = @IMAP_PORT@
  }
  inet_listener imaps {
    port = @IMAPS_PORT@
  }
}
service pop3-login {
  inet_listener pop3 {
    port = @POP3_PORT@
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
)";

void replace_all(std::string& text, std::string_view placeholder, const std::string& value) {
  for (size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
}

}  // namespace

void DovecotServer::write_config() {
  std::string conf(kConfigTemplate);
  replace_all(conf, "@DIR@", dir_.path().string());
  replace_all(conf, "@INSTANCE@",
              "popgate-test-" + std::to_string(::getpid()) + "-" + dir_.path().filename().string());
  replace_all(conf, "@UIDL_FORMAT@", kPop3UidlFormat);
  replace_all(conf, "@IMAP_PORT@", std::to_string(imap_port_));
  replace_all(conf, "@POP3_PORT@", std::to_string(pop3_port_));
  replace_all(conf, "@SSL@",
              tls_cert_.empty()
                  ? "ssl = no"
                  : "ssl = yes\nssl_cert = <" + tls_cert_.string() + "\nssl_key = <" + tls_key_.string());
  replace_all(conf, "@IMAPS_PORT@", std::to_string(imaps_port_));
  // Each passdb names its mechanisms, so a token is only ever checked by the oauth2 passdb and a
  // password only by the passwd-file one.
  const bool oauth2 = !oauth2_settings_.empty();
  replace_all(conf, "@AUTH_MECHANISMS@", oauth2 ? "plain login xoauth2 oauthbearer" : "plain login");
  replace_all(conf, "@OAUTH2_PASSDB@",
              oauth2 ? "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = " +
                           oauth2_settings_.string() + "\n}\n"
                     : "");
  replace_all(conf, "@PASSWD_MECHANISMS@", oauth2 ? "\n  mechanisms = plain login" : "");
  write_file(config_path(), conf);
}

void DovecotServer::start() {
  // Dovecot's processes that outlive a killed master become our children, so stop() can reap them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  const std::string dovecot = find_program("dovecot");
  std::string last_log;
  for (int attempt = 0; attempt < 5; ++attempt) {
    imap_port_ = free_port();
    do {
      pop3_port_ = free_port();
    } while (pop3_port_ == imap_port_);
    if (!tls_cert_.empty()) {
      do {
        imaps_port_ = free_port();
      } while (imaps_port_ == imap_port_ || imaps_port_ == pop3_port_);
    }
    write_config();
    SpawnOptions options;
    options.argv = {dovecot, "-F", "-c", config_path().string()};
    options.stdout_path = dir_ / "dovecot.stdout";
    options.stderr_path = dir_ / "dovecot.stderr";
    process_ = std::make_unique<ChildProcess>(options);
    auto alive = [this] { return process_->running(); };
    const auto timeout = std::chrono::seconds(15);
    if (wait_for_port(imap_port_, timeout, alive) && wait_for_port(pop3_port_, timeout, alive) &&
        (imaps_port_ == 0 || wait_for_port(imaps_port_, timeout, alive)) && alive()) {
      return;
    }
    last_log = log_text();
    process_->stop();
    process_.reset();
  }
  throw std::runtime_error("dovecot did not start:\n" + last_log);
}

void DovecotServer::stop() {
  if (!process_) return;
  // On SIGTERM the master stops and reaps its services, then tells the log process to quit and
  // sleeps a fixed second before exiting (the log process waits for it). Once the log process is its
  // only child nothing is left but that sleep, so end the master there: it saves a second per test.
  // The log process exits when the master does; as a subreaper we reap it.
  const pid_t master = process_->pid();
  process_->send_signal(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<pid_t> children;
  while (process_->running() && std::chrono::steady_clock::now() < deadline) {
    children = child_pids(master);
    if (children.empty() || (children.size() == 1 && process_name(children[0]) == "log")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  process_->send_signal(SIGKILL);
  process_->stop();
  process_.reset();
  for (pid_t orphan : children) {
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = ::waitpid(orphan, nullptr, WNOHANG);
      if (r == orphan || (r < 0 && errno == ECHILD && exited_or_zombie(orphan))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

bool DovecotServer::running() {
  return process_ && process_->running();
}

std::string DovecotServer::log_text() const {
  std::string text;
  for (const char* name : {"dovecot.stderr", "dovecot.log"}) {
    if (fs::exists(dir_ / name)) text += read_file(dir_ / name);
  }
  return text;
}

fs::path DovecotServer::maildir(std::string_view user, std::string_view mailbox) const {
  fs::path root = dir_ / "home" / std::string(user) / "Maildir";
  if (mailbox == "INBOX") return root;
  return root / ("." + std::string(mailbox));
}

void DovecotServer::create_mailbox(std::string_view user, std::string_view mailbox) {
  const fs::path box = maildir(user, mailbox);
  make_maildir(box);
  write_file(box / "maildirfolder", "");
  chown_to_mail_user(box / "maildirfolder");
}

void DovecotServer::deliver(std::string_view user, std::string_view message, std::string_view mailbox) {
  const fs::path box = maildir(user, mailbox);
  const std::string name = next_file_name();
  const fs::path tmp = box / "tmp" / name;
  write_file(tmp, message);
  chown_to_mail_user(tmp);
  fs::rename(tmp, box / "new" / name);
}

std::string DovecotServer::next_file_name() {
  // Dovecot orders new files by the time stamp in the name: increasing stamps keep delivery order.
  ++delivered_;
  return std::to_string(1600000000 + delivered_) + ".M" + std::to_string(delivered_) + "P" +
         std::to_string(::getpid()) + ".popgate-test";
}

void DovecotServer::deliver_dated(std::string_view user, std::string_view message, std::string_view flags,
                                  std::time_t received) {
  const fs::path box = maildir(user, "INBOX");
  const std::string name = next_file_name();
  const fs::path tmp = box / "tmp" / name;
  write_file(tmp, message);
  chown_to_mail_user(tmp);
  const struct timeval times[2] = {{received, 0}, {received, 0}};
  if (::utimes(tmp.c_str(), times) != 0) throw std::runtime_error("utimes failed on " + tmp.string());
  fs::rename(tmp, box / "cur" / (name + ":2," + std::string(flags)));
}

void DovecotServer::deliver_all(std::string_view user, const std::vector<CorpusMessage>& corpus) {
  for (const auto& m : corpus) deliver(user, m.bytes);
}

void DovecotServer::deliver_with_doveadm(std::string_view user, std::string_view message) {
  TempDir scratch("doveadm");
  write_file(scratch / "message", message);
  SpawnOptions options;
  options.argv = {find_program("doveadm"), "-c", config_path().string(), "save", "-u", std::string(user)};
  options.stdin_path = scratch / "message";
  RunResult r = run_program(options, std::chrono::seconds(30));
  if (r.exit_code != 0) throw std::runtime_error("doveadm save failed: " + r.err);
}

}  // namespace popgate::integration
