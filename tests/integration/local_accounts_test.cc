// Local accounts end to end: devices log in with their own passwords (hashed by `popgate
// hash-password`) and read the mailbox of the identity they stand for, on a real Dovecot.
// Wrong passwords, unknown logins and revoked devices all get the same [AUTH]; SIGHUP re-reads
// the accounts file, and a bad one keeps the old.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/temp_dir.h"
#include "tests/integration/support/tls_mail_test.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

// Through the binary under test: `popgate hash-password --password-stdin`.
std::string hash_password(const std::string& password, const std::string& method = "yescrypt") {
  const std::string command = "printf '%s\\n' '" + password + "' | " + POPGATE_BINARY +
                              " hash-password --password-stdin --method " + method;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  char line[512] = {};
  std::string hash = fgets(line, sizeof line, pipe) ? line : "";
  const int status = pclose(pipe);
  if (status != 0 || hash.empty()) throw std::runtime_error("hash-password failed: " + hash);
  hash.pop_back();  // the newline
  return hash;
}

struct Device {
  std::string login;
  std::string hash;
  bool revoked = false;
};

class LocalAccounts : public MailTest {
 protected:
  void SetUp() override {
    start_dovecot(make_small_corpus(3));
    write_file(secret_, std::string(kPassword) + "\n");  // alice's upstream password, as a mounted Secret
  }

  void write_accounts(const std::vector<Device>& devices) {
    std::string accounts;
    for (const auto& device : devices) {
      accounts += std::string(accounts.empty() ? "" : ",") + "\"" + device.login +
                  "\": {\"password_hash\": \"" + device.hash +
                  "\", \"identity\": \"alice-box\", \"revoked\": " + (device.revoked ? "true" : "false") +
                  "}";
    }
    const fs::path staging = accounts_.string() + ".new";
    write_file(staging, R"({"identities": {"alice-box": {"user": ")" + std::string(kUser) +
                            R"(", "secret_file": ")" + secret_.string() + R"("}}, "accounts": {)" + accounts +
                            "}}");
    fs::rename(staging, accounts_);
  }

  // Logs in, checks what the mailbox holds, and quits (so the next device finds the maildrop free).
  std::string login_and_quit(const std::string& user, const std::string& password,
                             std::string* stat = nullptr) {
    Pop3Client client(popgate_->port());
    std::string reply = client.login(user, password);
    if (reply.rfind("+OK", 0) == 0) {
      if (stat) *stat = client.command("STAT");
      client.command("QUIT");
      client.wait_for_close(std::chrono::seconds(5));
    }
    return reply;
  }

  std::string expected_stat() const {
    size_t bytes = 0;
    for (const auto& message : corpus_) bytes += message.bytes.size();
    return "+OK " + std::to_string(corpus_.size()) + " " + std::to_string(bytes);
  }

  TempDir dir_{"popgate-accounts"};
  fs::path secret_ = dir_ / "alice-secret";
  fs::path accounts_ = dir_ / "accounts.json";
};

TEST_F(LocalAccounts, DevicesReadTheIdentitysMailboxAndEveryRefusalLooksTheSame) {
  const std::string yescrypt = hash_password("scanner one pw");
  const std::string bcrypt = hash_password("scanner two pw", "bcrypt");
  const std::string sha512 = hash_password("scanner three pw", "sha512-crypt");
  write_accounts(
      {{"scanner1", yescrypt}, {"scanner2", bcrypt}, {"scanner3", sha512}, {"old-scanner", yescrypt, true}});
  start_popgate({"--accounts", accounts_.string()});

  std::string stat;
  EXPECT_EQ(login_and_quit("scanner1", "scanner one pw", &stat), "+OK Logged in.") << popgate_->log_text();
  EXPECT_EQ(stat, expected_stat()) << "alice's INBOX, through the identity";
  EXPECT_EQ(login_and_quit("scanner2", "scanner two pw", &stat), "+OK Logged in.");
  EXPECT_EQ(stat, expected_stat());
  EXPECT_EQ(login_and_quit("scanner3", "scanner three pw", &stat), "+OK Logged in.");
  EXPECT_EQ(stat, expected_stat());

  // Wrong password, unknown device, revoked device (with its right password), and the upstream
  // user's own password (passthrough is off with --accounts): one and the same answer.
  const std::string wrong = login_and_quit("scanner1", "scanner two pw");
  EXPECT_EQ(wrong.rfind("-ERR [AUTH]", 0), 0u) << wrong;
  EXPECT_EQ(login_and_quit("scanner9", "scanner one pw"), wrong);
  EXPECT_EQ(login_and_quit("old-scanner", "scanner one pw"), wrong);
  EXPECT_EQ(login_and_quit(std::string(kUser), std::string(kPassword)), wrong);
  // The operator's log tells them apart; the client's answer does not.
  const std::string log = popgate_->log_text();
  EXPECT_NE(log.find("local account revoked"), std::string::npos) << log;
  EXPECT_NE(log.find("no such local account"), std::string::npos);
  EXPECT_EQ(log.find("scanner one pw"), std::string::npos) << "passwords never reach the log";
  EXPECT_EQ(log.find(kPassword), std::string::npos) << "nor the identity's secret";
}

TEST_F(LocalAccounts, SighupAddsAndRevokesDevicesAndABadFileKeepsTheOld) {
  const std::string one = hash_password("pw one");
  const std::string two = hash_password("pw two");
  write_accounts({{"scanner1", one}});
  start_popgate({"--accounts", accounts_.string()});
  EXPECT_EQ(login_and_quit("scanner1", "pw one"), "+OK Logged in.") << popgate_->log_text();
  EXPECT_EQ(login_and_quit("scanner2", "pw two").rfind("-ERR [AUTH]", 0), 0u);

  write_accounts({{"scanner1", one, /*revoked=*/true}, {"scanner2", two}});
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "config_reloaded", 1))
      << popgate_->log_text();
  EXPECT_EQ(login_and_quit("scanner2", "pw two"), "+OK Logged in.") << popgate_->log_text();
  EXPECT_EQ(login_and_quit("scanner1", "pw one").rfind("-ERR [AUTH]", 0), 0u) << "revoked by the reload";

  // An MD5 hash is refused: the reload fails, naming the entry, and the accounts in use stay.
  write_file(
      accounts_,
      R"({"identities": {}, "accounts": {"x": {"password_hash": "$1$saltsalt$NuzA7WTAelpl95xgBGWN60", "identity": "y"}}})");
  popgate_->send_signal(SIGHUP);
  ASSERT_TRUE(wait_for_popgate_events([this] { return popgate_->log_text(); }, "config_reload_failed", 1))
      << popgate_->log_text();
  const auto failed = popgate_events(popgate_->log_text(), "config_reload_failed");
  EXPECT_NE(failed[0].find("account 'x': password_hash: MD5-crypt is too weak"), std::string::npos)
      << failed[0];
  EXPECT_EQ(login_and_quit("scanner2", "pw two"), "+OK Logged in.");
  EXPECT_EQ(login_and_quit("scanner1", "pw one").rfind("-ERR [AUTH]", 0), 0u);
}

TEST_F(LocalAccounts, CheckConfigNamesABadAccountsFile) {
  write_file(accounts_, R"({"accounts": {"a": {"password_hash": "plain", "identity": "nobody"}}})");
  const std::string command = std::string(POPGATE_BINARY) +
                              " --check-config --upstream imap://127.0.0.1:1 --accounts " +
                              accounts_.string() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[1024] = {};
  std::string out = fgets(line, sizeof line, pipe) ? line : "";
  const int status = pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(out.find("accounts: " + accounts_.string() + ": account 'a': password_hash:"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace popgate::integration
