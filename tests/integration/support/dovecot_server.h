// A private Dovecot (IMAP + its own POP3 as the oracle) on loopback high ports, in its own temp dir.
#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/corpus.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {

class DovecotServer {
 public:
  // The uid/gid Dovecot's mail processes run as: they refuse to run as root.
  static constexpr uint32_t kMailUid = 65534;
  // The oracle's UIDL format: UID then UIDVALIDITY, 8 hex digits each. Note that Dovecot renders %X in
  // lower case ("000000016b084b9a"), like UW ipop3d; "%08XUu%08XUv" would give upper case.
  static constexpr const char* kPop3UidlFormat = "%08Xu%08Xv";

  // Writes the configuration; call add_user() and then start().
  DovecotServer();
  ~DovecotServer();
  DovecotServer(const DovecotServer&) = delete;
  DovecotServer& operator=(const DovecotServer&) = delete;

  // Adds a passwd-file user with a {PLAIN} password and an empty Maildir. Call before start().
  void add_user(std::string_view user, std::string_view password);

  // Turns TLS on (ssl = yes) with this PEM certificate and key: STARTTLS on the imap port and an
  // imaps listener on a free port. Call before start().
  void enable_tls(const std::filesystem::path& cert, const std::filesystem::path& key);

  // Adds Dovecot's oauth2 passdb, its settings in `oauth2_settings` (dovecot-oauth2.conf.ext), for
  // SASL XOAUTH2 and OAUTHBEARER; the passwd-file passdb then serves PLAIN and LOGIN only (a token
  // sent as a password is refused). The files it names must be readable by the `dovecot` user,
  // which runs the auth process. Call before start().
  void enable_oauth2(const std::filesystem::path& oauth2_settings);

  // Starts `dovecot -F` and waits until its ports accept connections; retries with other ports if
  // one was taken meanwhile. Throws std::runtime_error (with the log) if it cannot start.
  void start();
  // Stops the master by PID (SIGTERM; it stops its children).
  void stop();
  bool running();

  // Stores a message the way local delivery does: written to Maildir/tmp, then renamed into new/.
  // Messages delivered in order get increasing UIDs.
  void deliver(std::string_view user, std::string_view message, std::string_view mailbox = "INBOX");
  void deliver_all(std::string_view user, const std::vector<CorpusMessage>& corpus);
  // As deliver, already seen by Dovecot (into cur/): with the Maildir flags `flags` ("S": \Seen)
  // and `received` as the internal date (Dovecot reads it from the file's mtime).
  void deliver_dated(std::string_view user, std::string_view message, std::string_view flags,
                     std::time_t received);
  // The same through `doveadm save` (slower: one process per message).
  void deliver_with_doveadm(std::string_view user, std::string_view message);
  // Creates a Maildir++ folder (e.g. "Trash") for the user.
  void create_mailbox(std::string_view user, std::string_view mailbox);

  uint16_t imap_port() const { return imap_port_; }
  uint16_t pop3_port() const { return pop3_port_; }
  // 0 unless enable_tls() was called.
  uint16_t imaps_port() const { return imaps_port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path config_path() const { return dir_ / "dovecot.conf"; }
  std::string log_text() const;

 private:
  std::filesystem::path maildir(std::string_view user, std::string_view mailbox) const;
  void write_config();
  // A Maildir file name, unique and in delivery order.
  std::string next_file_name();

  TempDir dir_;
  std::vector<std::string> users_;
  uint16_t imap_port_ = 0;
  uint16_t pop3_port_ = 0;
  uint16_t imaps_port_ = 0;
  std::filesystem::path tls_cert_;
  std::filesystem::path tls_key_;
  std::filesystem::path oauth2_settings_;
  uint64_t delivered_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace popgate::integration
