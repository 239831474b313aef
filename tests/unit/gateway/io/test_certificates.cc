// The TLS test certificates: a private CA and leaves signed by it, made with `openssl req`,
// `openssl ca` (which alone sets an explicit past validity period) and EC P-256 keys.
#include "tests/unit/gateway/io/test_certificates.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <vector>

extern char** environ;

namespace popgate::io::testing {

namespace {

// Sections for every certificate kind; `openssl ca` keeps its database in the same directory.
std::string openssl_config(const std::string& dir) {
  return "[req]\n"
         "distinguished_name = dn\n"
         "prompt = no\n"
         "[dn]\n"
         "CN = unused\n"
         "[v3_ca]\n"
         "basicConstraints = critical, CA:TRUE\n"
         "keyUsage = critical, keyCertSign, cRLSign\n"
         "subjectKeyIdentifier = hash\n"
         "[v3_server]\n"
         "basicConstraints = critical, CA:FALSE\n"
         "keyUsage = critical, digitalSignature\n"
         "extendedKeyUsage = serverAuth\n"
         "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
         "subjectKeyIdentifier = hash\n"
         "authorityKeyIdentifier = keyid\n"
         "[v3_wrong_host]\n"
         "basicConstraints = critical, CA:FALSE\n"
         "keyUsage = critical, digitalSignature\n"
         "extendedKeyUsage = serverAuth\n"
         "subjectAltName = DNS:wrong.example\n"
         "subjectKeyIdentifier = hash\n"
         "authorityKeyIdentifier = keyid\n"
         // As `openssl req -x509` makes them by default: its own CA.
         "[v3_self_signed]\n"
         "basicConstraints = critical, CA:TRUE\n"
         "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
         "[ca]\n"
         "default_ca = test_ca\n"
         "[test_ca]\n"
         "database = " +
         dir +
         "/index.txt\n"
         "new_certs_dir = " +
         dir +
         "\n"
         "serial = " +
         dir +
         "/serial\n"
         "default_md = sha256\n"
         "policy = any_subject\n"
         "unique_subject = no\n"
         "copy_extensions = none\n"
         "[any_subject]\n"
         "commonName = supplied\n";
}

bool write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  return static_cast<bool>(out);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class Generator {
 public:
  explicit Generator(std::string dir) : dir_(std::move(dir)), log_(dir_ + "/openssl.log") {}

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& error() const { return error_; }

  // Runs `openssl args...` with its output in openssl.log; records the first failure.
  bool openssl(std::initializer_list<std::string> args) {
    if (!error_.empty()) return false;
    std::vector<std::string> argv_storage{"openssl"};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    std::string command;
    for (const std::string& arg : argv_storage) command += (command.empty() ? "" : " ") + arg;
    if (rc != 0) {
      error_ = "cannot run openssl: " + std::string(strerror(rc));
      return false;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        error_ = "waitpid failed for: " + command;
        return false;
      }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      error_ = "failed: " + command + "\n" + read_file(log_);
      return false;
    }
    return true;
  }

  bool key(const std::string& name) {
    return openssl(
        {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path(name)});
  }

  bool root_ca(const std::string& name, const std::string& common_name) {
    return key(name + ".key") && openssl({"req", "-config", path("openssl.cnf"), "-x509", "-new", "-key",
                                          path(name + ".key"), "-subj", "/CN=" + common_name, "-days", "9000",
                                          "-extensions", "v3_ca", "-out", path(name + ".pem")});
  }

  // A certificate for a new key, issued by `issuer` with the extensions `section`.
  bool issue(const std::string& name, const std::string& issuer, const std::string& common_name,
             const std::string& section, const std::string& start = "20200101000000Z",
             const std::string& end = "20491231000000Z") {
    return key(name + ".key") &&
           openssl({"req", "-config", path("openssl.cnf"), "-new", "-key", path(name + ".key"), "-subj",
                    "/CN=" + common_name, "-out", path(name + ".csr")}) &&
           openssl({"ca",
                    "-config",
                    path("openssl.cnf"),
                    "-batch",
                    "-notext",
                    "-cert",
                    path(issuer + ".pem"),
                    "-keyfile",
                    path(issuer + ".key"),
                    "-in",
                    path(name + ".csr"),
                    "-startdate",
                    start,
                    "-enddate",
                    end,
                    "-extfile",
                    path("openssl.cnf"),
                    "-extensions",
                    section,
                    "-out",
                    path(name + ".pem")});
  }

 private:
  std::string dir_;
  std::string log_;
  std::string error_;
};

struct GeneratedCertificates {
  GeneratedCertificates() {
    char pattern[] = "/tmp/popgate-tls-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      certificates.error = "mkdtemp failed";
      return;
    }
    TestCertificates& c = certificates;
    c.dir = pattern;
    Generator g(c.dir);
    if (!write_file(g.path("openssl.cnf"), openssl_config(c.dir)) || !write_file(g.path("index.txt"), "") ||
        !write_file(g.path("serial"), "1000\n") ||
        !write_file(g.path("garbage.pem"), "this is not a certificate\n-----BEGIN NOTHING-----\n")) {
      c.error = "cannot write into " + c.dir;
      return;
    }
    bool ok = g.root_ca("ca", "popgate test CA") && g.root_ca("untrusted_ca", "popgate untrusted CA") &&
              g.issue("server", "ca", "localhost", "v3_server") &&
              g.issue("expired", "ca", "localhost", "v3_server", "20200101000000Z", "20200201000000Z") &&
              g.issue("wrong_host", "ca", "wrong.example", "v3_wrong_host") &&
              g.issue("unknown_ca", "untrusted_ca", "localhost", "v3_server") &&
              g.issue("intermediate", "ca", "popgate test intermediate CA", "v3_ca") &&
              g.issue("chain_leaf", "intermediate", "localhost", "v3_server") && g.key("self_signed.key") &&
              g.openssl({"req", "-config", g.path("openssl.cnf"), "-x509", "-new", "-key",
                         g.path("self_signed.key"), "-subj", "/CN=localhost", "-days", "9000", "-extensions",
                         "v3_self_signed", "-out", g.path("self_signed.pem")}) &&
              g.key("other.key");
    if (!ok) {
      c.error = g.error();
      return;
    }
    if (!write_file(g.path("chain.pem"),
                    read_file(g.path("chain_leaf.pem")) + read_file(g.path("intermediate.pem")))) {
      c.error = "cannot write the chain file";
      return;
    }
    c.ca_cert = g.path("ca.pem");
    c.server_cert = g.path("server.pem");
    c.server_key = g.path("server.key");
    c.expired_cert = g.path("expired.pem");
    c.expired_key = g.path("expired.key");
    c.wrong_host_cert = g.path("wrong_host.pem");
    c.wrong_host_key = g.path("wrong_host.key");
    c.unknown_ca_cert = g.path("unknown_ca.pem");
    c.unknown_ca_key = g.path("unknown_ca.key");
    c.self_signed_cert = g.path("self_signed.pem");
    c.self_signed_key = g.path("self_signed.key");
    c.chain_cert = g.path("chain.pem");
    c.chain_key = g.path("chain_leaf.key");
    c.chain_leaf_only = g.path("chain_leaf.pem");
    c.other_key = g.path("other.key");
    c.garbage = g.path("garbage.pem");
  }

  ~GeneratedCertificates() {
    if (certificates.dir.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(certificates.dir, ignored);
  }

  TestCertificates certificates;
};

}  // namespace

const TestCertificates& test_certificates() {
  static GeneratedCertificates generated;
  return generated.certificates;
}

}  // namespace popgate::io::testing
