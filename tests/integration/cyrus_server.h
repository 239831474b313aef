// A private Cyrus IMAP 3.6 with JMAP (IMAP + httpd) on loopback high ports in its own temp dir, and the
// tiny blocking HTTP/1.1 and JMAP clients that tests use to look at it.
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

#include "tests/integration/child_process.h"
#include "tests/integration/corpus.h"
#include "tests/integration/imap_client.h"
#include "tests/integration/temp_dir.h"

namespace popgate::integration {

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // origin-form: "/jmap/", "/.well-known/jmap"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with a Content-Length unless the method is GET or HEAD and it is empty
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;                                          // decoded if it came chunked
  bool chunked = false;                                      // Transfer-Encoding: chunked was used
  // The first value of a header (name compared case-insensitively), or "" if absent.
  std::string header(std::string_view name) const;
};

// One request on a fresh connection to 127.0.0.1:port, with Host and "Connection: close" added; reads
// the final response (1xx skipped), delimited by Content-Length, chunked coding or EOF. Throws
// std::runtime_error on I/O errors, timeouts and unparsable responses.
HttpResponse http_exchange(uint16_t port, const HttpRequest& request,
                           std::chrono::milliseconds timeout = std::chrono::seconds(15));

// "Basic <base64(user:password)>".
std::string basic_authorization(std::string_view user, std::string_view password);

// RFC 6570 simple-string expansion of one value: everything but unreserved characters percent-encoded.
std::string uri_escape(std::string_view value);

// A JMAP (RFC 8620/8621) client for one user of a CyrusServer: session discovery through the
// /.well-known/jmap redirect, API calls and blob downloads. Throws std::runtime_error on any HTTP
// status other than 200, and on JMAP method errors in the helpers that interpret replies.
class JmapClient {
 public:
  JmapClient(uint16_t http_port, std::string user, std::string password);

  // GET /.well-known/jmap, follows the redirect and returns the session resource; also remembers
  // apiUrl, downloadUrl (resolved against the session URL) and the primary mail account.
  const nlohmann::json& session();
  // The session URL after the redirect, as a path ("/jmap").
  const std::string& session_path();
  const std::string& account_id();
  const std::string& api_path();

  // POSTs {"using": [core, mail], "methodCalls": calls}; returns the whole response object.
  nlohmann::json call(const nlohmann::json& method_calls);
  // As call(), for a request body given verbatim; returns the raw HTTP response.
  HttpResponse post_api(std::string_view body);
  // One method call; returns its arguments, throws if the server answered with an "error".
  nlohmann::json call_one(std::string_view method, nlohmann::json arguments);

  // The id of the mailbox with this role ("inbox", "trash"); throws if none.
  std::string mailbox_id_by_role(std::string_view role);

  // GET of the downloadUrl template filled in with percent-encoded values.
  HttpResponse download(std::string_view blob_id, std::string_view type = "message/rfc822",
                        std::string_view name = "message.eml",
                        const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  std::string download_path(std::string_view blob_id, std::string_view type, std::string_view name);

  HttpResponse get(std::string_view target,
                   const std::vector<std::pair<std::string, std::string>>& extra = {});

 private:
  void discover();

  uint16_t port_;
  std::string user_;
  std::string password_;
  nlohmann::json session_;
  std::string session_path_;
  std::string api_path_;
  std::string download_template_;
  std::string account_id_;
};

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
