// A private Cyrus IMAP 3.6 with JMAP (IMAP + httpd) on loopback high ports in its own temp dir.
#include "tests/integration/support/cyrus_server.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "tests/integration/support/loopback.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCyrusBin = "/usr/lib/cyrus/bin";
constexpr const char* kDefaultImapdRoot = "/opt/popgate-cyrus";  // where scripts/lib/install-cyrus.sh unpacks
constexpr size_t kMaxDirLength = 80;  // DIR/conf/socket/notify and friends must fit in sun_path (108)

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// An IMAP quoted string (RFC 3501 §9 quoted); the fixture's names and passwords are plain ASCII.
std::string imap_quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void replace_all(std::string& text, std::string_view placeholder, std::string_view value) {
  for (size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
}

std::string random_password() {
  std::ifstream random("/dev/urandom", std::ios::binary);
  std::string out;
  for (int i = 0; i < 12; ++i) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(random.get()));
    out += hex;
  }
  return out;
}

std::string find_imapd() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("POPGATE_CYRUS_IMAPD"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  }
  candidates.push_back(std::string(kCyrusBin) + "/imapd");
  const char* root = std::getenv("POPGATE_CYRUS_ROOT");
  candidates.push_back(std::string(root != nullptr && *root != '\0' ? root : kDefaultImapdRoot) +
                       "/usr/lib/cyrus/bin/imapd");
  for (const auto& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  throw std::runtime_error("no Cyrus imapd (looked in " + candidates[1] + " and " + candidates.back() +
                           "): run scripts/install-deps.sh");
}

void chown_recursive(const fs::path& root, uid_t uid, gid_t gid) {
  if (::lchown(root.c_str(), uid, gid) != 0) {
    throw std::system_error(errno, std::generic_category(), "chown " + root.string());
  }
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (::lchown(entry.path().c_str(), uid, gid) != 0) {
      throw std::system_error(errno, std::generic_category(), "chown " + entry.path().string());
    }
  }
}

// The parent of a process (/proc/PID/stat), or -1 if it is gone.
pid_t parent_pid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  const size_t paren = stat.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos) return -1;
  char state = 0;
  int ppid = -1;
  if (std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) return -1;
  return static_cast<pid_t>(ppid);
}

struct CyrusAccount {
  uid_t uid;
  gid_t gid;
};

CyrusAccount cyrus_account() {
  const passwd* pw = ::getpwnam("cyrus");
  const group* gr = ::getgrnam("mail");
  if (pw == nullptr || gr == nullptr) {
    throw std::runtime_error("no user cyrus or group mail: run scripts/install-deps.sh (cyrus-common)");
  }
  return {pw->pw_uid, gr->gr_gid};
}

// @DIR@, @ADMIN@, @IMAPD@, @IMAP_PORT@ and @HTTP_PORT@ are filled in by write_config(). A key given twice
// is fatal (master exits 78). master does not hand its -C on: every cmd needs its own, or the service
// silently reads /etc/imapd.conf.
constexpr std::string_view kImapdConf =
    R"(# Written by popgate's integration tests: a private Cyrus on loopback.
configdirectory: @DIR@/conf
defaultpartition: default
partition-default: @DIR@/spool
sievedir: @DIR@/conf/sieve
lmtpsocket: @DIR@/conf/socket/lmtp
idlesocket: @DIR@/conf/socket/idle
notifysocket: @DIR@/conf/socket/notify
servername: localhost
admins: @ADMIN@
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: @DIR@/sasldb2
sasl_mech_list: PLAIN LOGIN
unixhierarchysep: yes
altnamespace: yes
virtdomains: off
httpmodules: jmap
conversations: yes
conversations_db: twoskip
httpallowcompress: no
# Keep 8-bit bytes in headers: by default Cyrus turns each into 'X' (on APPEND too, not only in lmtpd).
reject8bit: no
munge8bit: no
# A failed IMAP login would otherwise answer after 3 s.
failedloginpause: 0
syslog_prefix: popgate-cyrus-test
)";

constexpr std::string_view kCyrusConf =
    R"(# Written by popgate's integration tests.
START {
  recover cmd="@BIN@/ctl_cyrusdb -C @DIR@/imapd.conf -r"
}
SERVICES {
  imap cmd="@IMAPD@ -C @DIR@/imapd.conf" listen="127.0.0.1:@IMAP_PORT@" prefork=0
  http cmd="@BIN@/httpd -C @DIR@/imapd.conf" listen="127.0.0.1:@HTTP_PORT@" prefork=0
}
EVENTS {
}
DAEMON {
}
)";

}  // namespace

// ---- the server ----

CyrusServer::CyrusServer() : dir_("cyrus") {
  if (::geteuid() != 0) {
    throw std::runtime_error("the Cyrus fixture must run as root: master switches to the user cyrus");
  }
  for (const char* program : {"master", "httpd", "ctl_cyrusdb"}) {
    const std::string path = std::string(kCyrusBin) + "/" + program;
    if (::access(path.c_str(), X_OK) != 0) {
      throw std::runtime_error("no " + path + ": run scripts/install-deps.sh (cyrus-common, cyrus-caldav)");
    }
  }
  imapd_ = find_imapd();
  if (dir_.path().string().size() > kMaxDirLength) {
    throw std::runtime_error("temp dir " + dir_.path().string() + " is too long for Cyrus's unix sockets");
  }
  // The services run as cyrus: every parent of the directory must be searchable by others.
  for (fs::path p = dir_.path().parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
      throw std::runtime_error(p.string() + " is not searchable by others: Cyrus (user cyrus) cannot reach " +
                               dir_.path().string() + "; set TMPDIR");
    }
    if (p == p.root_path()) break;
  }
  for (const char* sub :
       {"conf/socket", "conf/proc", "conf/lock", "conf/log", "conf/db", "conf/sieve", "spool"}) {
    fs::create_directories(dir_ / sub);
  }
  admin_password_ = random_password();
  set_sasl_password(kAdminUser, admin_password_);
}

CyrusServer::~CyrusServer() {
  stop();
}

void CyrusServer::set_sasl_password(std::string_view user, std::string_view password) {
  TempDir scratch("saslpasswd");
  write_file(scratch / "password", password);
  SpawnOptions options;
  options.argv = {find_program("saslpasswd2"),
                  "-f",
                  (dir_ / "sasldb2").string(),
                  "-p",
                  "-c",
                  "-u",
                  "localhost",
                  std::string(user)};
  options.stdin_path = scratch / "password";
  RunResult r = run_program(options, std::chrono::seconds(30));
  if (r.exit_code != 0) throw std::runtime_error("saslpasswd2 " + std::string(user) + " failed: " + r.err);
  const CyrusAccount cyrus = cyrus_account();
  if (::chown((dir_ / "sasldb2").c_str(), cyrus.uid, cyrus.gid) != 0) {
    throw std::system_error(errno, std::generic_category(), "chown sasldb2");
  }
}

void CyrusServer::add_user(std::string_view user, std::string_view password) {
  set_sasl_password(user, password);
  users_.push_back({std::string(user), std::string(password)});
  if (running()) create_inboxes({std::string(user)});
}

const std::string& CyrusServer::password(std::string_view user) const {
  for (const auto& u : users_) {
    if (u.name == user) return u.password;
  }
  throw std::runtime_error("no Cyrus user " + std::string(user));
}

void CyrusServer::write_config() {
  std::string imapd_conf(kImapdConf);
  replace_all(imapd_conf, "@DIR@", dir_.path().string());
  replace_all(imapd_conf, "@ADMIN@", kAdminUser);
  write_file(dir_ / "imapd.conf", imapd_conf);
  std::string cyrus_conf(kCyrusConf);
  replace_all(cyrus_conf, "@DIR@", dir_.path().string());
  replace_all(cyrus_conf, "@BIN@", kCyrusBin);
  replace_all(cyrus_conf, "@IMAPD@", imapd_);
  replace_all(cyrus_conf, "@IMAP_PORT@", std::to_string(imap_port_));
  replace_all(cyrus_conf, "@HTTP_PORT@", std::to_string(http_port_));
  write_file(dir_ / "cyrus.conf", cyrus_conf);
}

void CyrusServer::start() {
  // master's children that outlive it become ours, so stop() can reap them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  const CyrusAccount cyrus = cyrus_account();
  std::string last_log;
  for (int attempt = 0; attempt < 5; ++attempt) {
    imap_port_ = free_port();
    do {
      http_port_ = free_port();
    } while (http_port_ == imap_port_);
    write_config();
    chown_recursive(dir_.path(), cyrus.uid, cyrus.gid);
    fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    SpawnOptions options;
    // In the foreground (no -d), so the PID we hold is master's own.
    options.argv = {std::string(kCyrusBin) + "/master", "-C", (dir_ / "imapd.conf").string(), "-M",
                    (dir_ / "cyrus.conf").string(),     "-p", (dir_ / "master.pid").string()};
    options.stdout_path = dir_ / "master.log";
    options.stderr_path = dir_ / "master.log";
    process_ = std::make_unique<ChildProcess>(options);
    auto alive = [this] { return process_->running(); };
    const auto timeout = std::chrono::seconds(15);
    if (wait_for_port(imap_port_, timeout, alive) && wait_for_port(http_port_, timeout, alive) && alive()) {
      std::vector<std::string> names;
      for (const auto& u : users_) names.push_back(u.name);
      create_inboxes(names);
      return;
    }
    last_log = log_text();
    stop();
  }
  throw std::runtime_error("cyrus master did not start:\n" + last_log);
}

void CyrusServer::stop() {
  if (!process_) return;
  const pid_t master = process_->pid();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<pid_t> children = child_pids(master);
  // On SIGTERM master signals its services and exits once they are gone.
  process_->send_signal(SIGTERM);
  while (process_->running() && std::chrono::steady_clock::now() < deadline) {
    const std::vector<pid_t> now = child_pids(master);
    if (!now.empty()) children = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  process_->stop(std::chrono::milliseconds(0));
  process_.reset();
  // Services that outlived master were re-parented to us (subreaper): end and reap them. A PID that is
  // not our child any more was reaped by master and may belong to someone else now: leave it alone.
  for (pid_t orphan : children) {
    if (parent_pid(orphan) != ::getpid()) continue;
    ::kill(orphan, SIGKILL);
    while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds(5)) {
      const pid_t r = ::waitpid(orphan, nullptr, WNOHANG);
      if (r == orphan || (r < 0 && errno == ECHILD && exited_or_zombie(orphan))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

bool CyrusServer::running() {
  return process_ && process_->running();
}

pid_t CyrusServer::master_pid() const {
  return process_ ? process_->pid() : -1;
}

std::string CyrusServer::jmap_session_url() const {
  return "http://127.0.0.1:" + std::to_string(http_port_) + "/.well-known/jmap";
}

std::string CyrusServer::log_text() const {
  return fs::exists(dir_ / "master.log") ? read_file(dir_ / "master.log") : "";
}

void CyrusServer::create_inboxes(const std::vector<std::string>& users) {
  if (users.empty()) return;
  ImapClient admin(imap_port_);
  admin.login(kAdminUser, admin_password_);
  for (const auto& user : users) {
    ImapResult r = admin.command("CREATE " + imap_quoted("user/" + user));
    if (!r.ok() && r.tagged.find("exists") == std::string::npos) {
      throw std::runtime_error("CREATE user/" + user + ": " + r.tagged);
    }
  }
  admin.logout();
}

std::unique_ptr<ImapClient> CyrusServer::imap_login(std::string_view user) {
  if (!running()) throw std::runtime_error("the Cyrus server is not running");
  auto imap = std::make_unique<ImapClient>(imap_port_);
  imap->login(user, password(user));
  return imap;
}

void CyrusServer::create_mailbox(std::string_view user, std::string_view mailbox,
                                 std::string_view special_use) {
  auto imap = imap_login(user);
  std::string command = "CREATE " + imap_quoted(mailbox);
  if (!special_use.empty()) command += " (USE (" + std::string(special_use) + "))";  // RFC 6154 §3
  imap->must(command);
  imap->logout();
}

std::string CyrusServer::next_internal_date() {
  const std::time_t t = static_cast<std::time_t>(kFirstInternalDate + delivered_++);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%d-%b-%Y %H:%M:%S +0000", &tm);
  return buf;
}

namespace {

// LITERAL+ (RFC 7888): the literal follows at once, no continuation request; ImapClient::command()
// sends the CRLF that ends the command after it.
ImapResult append_with(ImapClient& imap, std::string_view mailbox, const std::string& date,
                       std::string_view message) {
  return imap.command("APPEND " + imap_quoted(mailbox) + " \"" + date + "\" {" +
                      std::to_string(message.size()) + "+}\r\n" + std::string(message));
}

uint32_t appended_uid(const ImapResult& r) {
  const size_t at = r.tagged.find("[APPENDUID ");
  if (at == std::string::npos) throw std::runtime_error("APPEND without APPENDUID: " + r.tagged);
  unsigned long validity = 0;
  unsigned long uid = 0;
  if (std::sscanf(r.tagged.c_str() + at, "[APPENDUID %lu %lu]", &validity, &uid) != 2) {
    throw std::runtime_error("bad APPENDUID: " + r.tagged);
  }
  return static_cast<uint32_t>(uid);
}

}  // namespace

ImapResult CyrusServer::append(std::string_view user, std::string_view message, std::string_view mailbox) {
  auto imap = imap_login(user);
  ImapResult r = append_with(*imap, mailbox, next_internal_date(), message);
  imap->logout();
  return r;
}

uint32_t CyrusServer::deliver(std::string_view user, std::string_view message, std::string_view mailbox) {
  ImapResult r = append(user, message, mailbox);
  if (!r.ok()) throw std::runtime_error("APPEND to " + std::string(mailbox) + " refused: " + r.tagged);
  return appended_uid(r);
}

void CyrusServer::deliver_all(std::string_view user, const std::vector<CorpusMessage>& corpus) {
  auto imap = imap_login(user);
  for (const auto& m : corpus) {
    ImapResult r = append_with(*imap, "INBOX", next_internal_date(), m.bytes);
    if (!r.ok()) throw std::runtime_error("APPEND of " + m.label + " refused: " + r.tagged);
  }
  imap->logout();
}

std::vector<CyrusMessage> CyrusServer::messages(std::string_view user, std::string_view mailbox) {
  auto imap = imap_login(user);
  std::vector<CyrusMessage> out;
  // Not select()'s EXISTS count: ImapClient::select() also takes "* 0 RECENT" for it. UID ranges are
  // lenient: on an empty mailbox "UID FETCH 1:*" is simply OK.
  imap->select(mailbox);
  ImapResult r = imap->must("UID FETCH 1:* (UID EMAILID DIGEST.SHA1 RFC822.SIZE INTERNALDATE)");
  imap->logout();
  for (const auto& line : r.untagged) {
    if (line.find(" FETCH (") == std::string::npos) continue;
    auto item = [&line](std::string_view name) -> std::string {
      size_t at = 0;
      const std::string key = std::string(name) + " ";
      while ((at = line.find(key, at + 1)) != std::string::npos && line[at - 1] != '(' &&
             line[at - 1] != ' ') {
      }
      if (at == std::string::npos) throw std::runtime_error("no " + std::string(name) + " in " + line);
      size_t start = at + key.size();
      char close = ' ';
      if (line[start] == '(') close = ')';
      if (line[start] == '"') close = '"';
      if (close != ' ') ++start;
      const size_t end = line.find_first_of(close == ' ' ? std::string(" )") : std::string(1, close), start);
      return line.substr(start, end - start);
    };
    CyrusMessage m;
    m.uid = static_cast<uint32_t>(std::stoul(item("UID")));
    m.email_id = item("EMAILID");
    m.blob_id = "G" + item("DIGEST.SHA1");
    m.size = std::stoull(item("RFC822.SIZE"));
    m.internal_date = trim(item("INTERNALDATE"));
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
  return out;
}

JmapClient CyrusServer::jmap(std::string_view user) {
  return JmapClient(http_port_, std::string(user), password(user));
}

}  // namespace popgate::integration
