// A private Cyrus IMAP 3.6 with JMAP (IMAP + httpd) on loopback high ports in its own temp dir.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/corpus.h"
#include "tests/integration/support/imap_client.h"
#include "tests/integration/support/jmap_test_client.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {

// One message as Cyrus's IMAP sees it. email_id is the JMAP Email id (RFC 8474 EMAILID) and blob_id the
// JMAP blobId ("G" + the message's SHA-1, from FETCH DIGEST.SHA1).
struct CyrusMessage {
  uint32_t uid = 0;
  std::string email_id;
  std::string blob_id;
  uint64_t size = 0;          // RFC822.SIZE, equal to JMAP Email.size and the blob's length
  std::string internal_date;  // as IMAP sends it: "01-Jan-2024 00:00:01 +0000"
};

class CyrusServer {
 public:
  // The admin account that creates users' INBOXes (its password is random per server).
  static constexpr std::string_view kAdminUser = "popgate-admin";
  // Internal date (JMAP receivedAt) of the first delivered message; each next one is a second later.
  static constexpr int64_t kFirstInternalDate = 1704067201;  // 2024-01-01T00:00:01Z

  // Checks for root and the Cyrus programs, makes the directory and the admin; then add_user(), start().
  CyrusServer();
  ~CyrusServer();
  CyrusServer(const CyrusServer&) = delete;
  CyrusServer& operator=(const CyrusServer&) = delete;

  // A SASL user (private sasldb) and, once started, its INBOX. Before or after start().
  void add_user(std::string_view user, std::string_view password);

  // Starts `master` (as root; it switches to the user cyrus) and waits until the IMAP and HTTP ports
  // accept connections, retrying with other ports if one was taken meanwhile; then creates every
  // user's INBOX. Throws std::runtime_error (with master's output) if it cannot start.
  void start();
  // Stops master by PID (SIGTERM: it stops its children) and reaps them. Safe to call twice.
  void stop();
  bool running();

  // The rest need a running server.
  // CREATE as the user; `special_use` ("\\Trash") makes it a JMAP role ("trash").
  void create_mailbox(std::string_view user, std::string_view mailbox, std::string_view special_use = "");
  // IMAP APPEND (LITERAL+) of exactly these bytes with the next internal date; returns the tagged result.
  // Cyrus refuses bare LF ("NO Message contains bare newlines") and NUL, and keeps every other byte.
  ImapResult append(std::string_view user, std::string_view message, std::string_view mailbox = "INBOX");
  // As append(), but throws unless OK; returns the new UID (APPENDUID).
  uint32_t deliver(std::string_view user, std::string_view message, std::string_view mailbox = "INBOX");
  void deliver_all(std::string_view user, const std::vector<CorpusMessage>& corpus);

  // An IMAP session logged in as the user (nothing selected).
  std::unique_ptr<ImapClient> imap_login(std::string_view user);
  // The messages in a mailbox, in UID order, over IMAP.
  std::vector<CyrusMessage> messages(std::string_view user, std::string_view mailbox = "INBOX");
  JmapClient jmap(std::string_view user);

  uint16_t imap_port() const { return imap_port_; }
  uint16_t http_port() const { return http_port_; }
  // http://127.0.0.1:PORT/.well-known/jmap (answers 301 to /jmap).
  std::string jmap_session_url() const;
  const std::string& password(std::string_view user) const;
  const std::filesystem::path& dir() const { return dir_.path(); }
  pid_t master_pid() const;
  // master's stdout and stderr (Cyrus itself logs to syslog only).
  std::string log_text() const;

 private:
  struct User {
    std::string name;
    std::string password;
  };
  void set_sasl_password(std::string_view user, std::string_view password);
  void create_inboxes(const std::vector<std::string>& users);
  void write_config();
  std::string next_internal_date();

  TempDir dir_;
  std::string imapd_;
  std::string admin_password_;
  std::vector<User> users_;
  uint16_t imap_port_ = 0;
  uint16_t http_port_ = 0;
  int64_t delivered_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace popgate::integration
