// A private redis-server on a loopback free port, in its own temp dir: plain, with a password, an
// ACL user, TLS, or as a replica; and the faults a shared store has (killed, stalled, emptied).
#include "tests/integration/support/redis_server.h"

#include <signal.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/integration/support/loopback.h"
#include "tests/unit/gateway/io/test_certificates.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

constexpr auto kStartTimeout = std::chrono::seconds(15);

const io::testing::TestCertificates& certificates() {
  const io::testing::TestCertificates& c = io::testing::test_certificates();
  if (!c.error.empty()) throw std::runtime_error("test certificates: " + c.error);
  return c;
}

}  // namespace

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)), dir_("redis") {
  if (!options_.tls) return;
  const io::testing::TestCertificates& c = certificates();
  switch (options_.certificate) {
    case RedisCertificate::kTrusted:
      cert_file_ = c.server_cert;
      key_file_ = c.server_key;
      break;
    case RedisCertificate::kWrongHost:
      cert_file_ = c.wrong_host_cert;
      key_file_ = c.wrong_host_key;
      break;
    case RedisCertificate::kUnknownCa:
      cert_file_ = c.unknown_ca_cert;
      key_file_ = c.unknown_ca_key;
      break;
  }
}

RedisServer::~RedisServer() {
  stop();
}

fs::path RedisServer::ca_file() const {
  return certificates().ca_cert;
}

fs::path RedisServer::untrusted_ca_file() const {
  // test_certificates() issues the unknown-CA leaf from this root; the struct names only the leaf.
  return fs::path(certificates().dir) / "untrusted_ca.pem";
}

std::vector<std::string> RedisServer::command_line() const {
  // --save "" and no AOF: nothing survives a restart, and nothing is written but the log.
  std::vector<std::string> argv = {find_program("redis-server"),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_.path().string(),
                                   "--logfile",
                                   (dir_ / "redis.log").string()};
  if (options_.tls) {
    // --tls-ca-cert-file is required even though clients are not asked for certificates.
    argv.insert(argv.end(), {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file",
                             cert_file_.string(), "--tls-key-file", key_file_.string(), "--tls-ca-cert-file",
                             ca_file().string(), "--tls-auth-clients", "no", "--tls-replication", "yes"});
  } else {
    argv.insert(argv.end(), {"--port", std::to_string(port_)});
  }
  if (!options_.password.empty()) argv.insert(argv.end(), {"--requirepass", options_.password});
  if (options_.acl_user) {
    const RedisAclUser& u = *options_.acl_user;
    argv.insert(argv.end(), {"--user", u.name, "on", ">" + u.password, u.key_pattern});
    // One rule per argument: redis-server takes "-@all +ping" as a single, unknown, rule.
    std::istringstream rules(u.commands);
    for (std::string rule; rules >> rule;) argv.push_back(rule);
  }
  if (options_.replica_of != 0) {
    argv.insert(argv.end(), {"--replicaof", "127.0.0.1", std::to_string(options_.replica_of)});
  }
  if (!options_.masterauth.empty()) argv.insert(argv.end(), {"--masterauth", options_.masterauth});
  return argv;
}

bool RedisServer::launch() {
  SpawnOptions spawn;
  spawn.argv = command_line();
  spawn.stdout_path = dir_ / "redis.stdout";
  spawn.stderr_path = dir_ / "redis.stderr";
  process_ = std::make_unique<ChildProcess>(spawn);
  paused_ = false;
  // Readiness trusts whichever CA signed the certificate, so an unknown-CA server starts too.
  RedisEndpoint ready = endpoint({"", options_.password});
  if (options_.tls && options_.certificate == RedisCertificate::kUnknownCa)
    ready.ca_file = untrusted_ca_file();
  const bool answered = wait_for_pong(ready, kStartTimeout, [this] { return process_->running(); });
  if (answered) return true;
  // Alive but not answering is no port clash: another port would not help.
  const bool exited = !process_->running();
  process_->stop();
  process_.reset();
  if (!exited) throw std::runtime_error("redis-server does not answer PING:\n" + log_text());
  return false;
}

void RedisServer::start() {
  if (running()) throw std::logic_error("RedisServer::start: already running");
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (launch()) return;
  }
  throw std::runtime_error("redis-server did not start:\n" + log_text());
}

void RedisServer::restart() {
  stop();
  // Redis sets SO_REUSEADDR, so the port is free again at once unless someone else took it.
  if (!launch()) {
    // It exited: most likely someone else bound the port meanwhile.
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_) + ":\n" +
                             log_text());
  }
}

void RedisServer::stop() {
  if (!process_) return;
  resume();  // a stopped process would hold SIGTERM pending until the SIGKILL
  process_->stop();
  process_.reset();
}

void RedisServer::kill() {
  if (!process_) return;
  process_->send_signal(SIGKILL);
  process_->stop();
  process_.reset();
  paused_ = false;
}

void RedisServer::pause() {
  if (!process_) throw std::logic_error("RedisServer::pause: not running");
  process_->send_signal(SIGSTOP);
  paused_ = true;
}

void RedisServer::resume() {
  if (!process_ || !paused_) return;
  process_->send_signal(SIGCONT);
  paused_ = false;
}

bool RedisServer::running() {
  return process_ && process_->running();
}

RedisEndpoint RedisServer::endpoint(const RedisCredentials& who) const {
  RedisEndpoint e;
  e.port = port_;
  if (options_.tls) e.ca_file = ca_file();
  e.credentials = who;
  return e;
}

std::string RedisServer::cli(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  return cli_as({"", options_.password}, std::move(args), timeout);
}

std::string RedisServer::cli_as(const RedisCredentials& who, std::vector<std::string> args,
                                std::chrono::milliseconds timeout) {
  return run_redis_cli(endpoint(who), args, timeout);
}

RedisCredentials RedisServer::acl_credentials() const {
  if (!options_.acl_user) throw std::logic_error("RedisServer: no ACL user configured");
  return {options_.acl_user->name, options_.acl_user->password};
}

bool RedisServer::wait_for_replication(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running() && std::chrono::steady_clock::now() < deadline) {
    if (cli({"INFO", "replication"}).find("master_link_status:up") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string RedisServer::log_text() const {
  std::string text;
  for (const char* name : {"redis.stderr", "redis.stdout", "redis.log"}) {
    if (fs::exists(dir_ / name)) text += read_file(dir_ / name);
  }
  return text;
}

}  // namespace popgate::integration
