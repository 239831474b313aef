// A private redis-server on a loopback free port, in its own temp dir: plain, with a password, an
// ACL user, TLS, or as a replica; and the faults a shared store has (killed, stalled, emptied).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/redis_cli.h"
#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {

// An ACL user besides the default one (Redis 6+): `--user NAME on >PASSWORD KEYS COMMANDS`.
struct RedisAclUser {
  std::string name;
  std::string password;
  std::string key_pattern = "~*";  // e.g. "~popgate:*": other keys answer NOPERM
  std::string commands = "+@all";  // rules separated by spaces: "-@all +ping +get"
};

// Which certificate a TLS server presents. All come from io::testing::test_certificates().
enum class RedisCertificate {
  kTrusted,    // signed by ca_file(), for DNS:localhost and IP:127.0.0.1
  kWrongHost,  // signed by ca_file(), for DNS:wrong.example only
  kUnknownCa,  // for localhost and 127.0.0.1, signed by untrusted_ca_file(), not by ca_file()
};

struct RedisServerOptions {
  std::string password;                  // requirepass for the default user; empty: none
  std::optional<RedisAclUser> acl_user;  // an extra user
  bool tls = false;                      // TLS only: `--port 0 --tls-port P`, clients not verified
  RedisCertificate certificate = RedisCertificate::kTrusted;
  uint16_t replica_of = 0;  // non-zero: a replica of 127.0.0.1:replica_of
  std::string masterauth;   // the password it gives its master (also after a failover made it one)
};

class RedisServer {
 public:
  // Takes the options; start() starts it. Throws std::runtime_error if TLS certificates cannot be made.
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts `redis-server` in the foreground on a free port and waits until it answers PING; tries
  // other ports if it exited (the port it got was taken meanwhile). Throws std::runtime_error with
  // the log.
  void start();
  // SIGTERM by PID (after SIGCONT, should it be paused), and waits for it. Safe to call twice.
  void stop();
  // SIGKILL: a crash, no shutdown work.
  void kill();
  // SIGSTOP / SIGCONT: a stalled store. Connections are accepted by the kernel but get no answer.
  void pause();
  void resume();
  // Stops it (if running) and starts it again on the same port, empty: nothing is saved, so this is
  // the "Redis lost everything" fault (and scripts loaded before answer NOSCRIPT). Throws like start().
  void restart();

  uint16_t port() const { return port_; }
  bool running();
  const RedisServerOptions& options() const { return options_; }

  // With TLS: the CA that clients trust (it signed the trusted and wrong-host certificates), a second
  // CA that signed none of them but the unknown-CA one, and the certificate and key the server presents.
  std::filesystem::path ca_file() const;
  std::filesystem::path untrusted_ca_file() const;
  const std::filesystem::path& cert_file() const { return cert_file_; }
  const std::filesystem::path& key_file() const { return key_file_; }

  // redis-cli against this server, authenticated as the default user with `password` (if any), over
  // TLS trusting ca_file() when TLS is on. Returns stdout trimmed; error replies are output too
  // ("NOPERM ..."); throws std::runtime_error with stderr if redis-cli fails or times out.
  std::string cli(std::vector<std::string> args,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The same as someone else: no one (RedisCredentials{}), a wrong password, or the ACL user.
  std::string cli_as(const RedisCredentials& who, std::vector<std::string> args,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The credentials of the ACL user; throws std::logic_error if there is none.
  RedisCredentials acl_credentials() const;

  // Polls until this replica reports master_link_status:up (the initial sync is done).
  bool wait_for_replication(std::chrono::milliseconds timeout);

  const std::filesystem::path& dir() const { return dir_.path(); }
  std::string log_text() const;

 private:
  std::vector<std::string> command_line() const;
  // One attempt on port_: true when it answers PING; false if it exited (most likely it could not
  // bind); throws std::runtime_error if it runs but does not answer.
  bool launch();
  RedisEndpoint endpoint(const RedisCredentials& who) const;

  RedisServerOptions options_;
  TempDir dir_;
  std::filesystem::path cert_file_;
  std::filesystem::path key_file_;
  uint16_t port_ = 0;
  bool paused_ = false;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace popgate::integration
