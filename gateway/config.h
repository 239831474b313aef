// Config: every setting of popgate, from an optional JSON file, the command line and POPGATE_*
// environment variables.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/mailbox.h"
#include "gateway/io/socket_address.h"
#include "gateway/log.h"
#include "protocol/pop3/pop3_server.h"

namespace popgate {

// A start-up error: main prints it as one line and exits with status 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct UpstreamUrl {
  std::string scheme;    // "imap" (STARTTLS when offered), "imaps" (implicit TLS), "jmap" (HTTP), "jmaps" (HTTPS)
  std::string host;
  uint16_t port = 0;
  std::string path;      // JMAP session resource; "/.well-known/jmap" by default (RFC 8620 §2.2)
  bool is_jmap() const { return scheme == "jmap" || scheme == "jmaps"; }
  bool tls_none = false; // "imap://host?tls=none": never TLS, even to a non-loopback host
  std::string to_string() const;
};

UpstreamUrl parse_upstream_url(std::string_view text);  // throws ConfigError

struct Config {
  std::vector<io::HostPort> listen;
  std::vector<io::HostPort> listen_tls;  // implicit TLS (RFC 8314, port 995)
  std::string tls_cert;                  // PEM chain; with tls_key enables STLS and listen_tls
  std::string tls_key;
  uint64_t tls_handshake_timeout_ms = 10'000;
  UpstreamUrl upstream;
  std::string mailbox = "INBOX";
  DeleteMode delete_mode = DeleteMode::Expunge;
  std::string move_target;              // for DeleteMode::Move
  bool mark_seen = false;               // RETR sets \Seen upstream
  uint64_t idle_timeout_ms = 600'000;   // RFC 1939 §3: at least 10 minutes
  uint64_t auth_failure_delay_ms = 2'000;
  uint64_t upstream_timeout_ms = 60'000;  // connect, and each upstream response
  std::string upstream_ca;              // CA bundle for the upstream; empty: the system's
  bool upstream_insecure = false;       // skip upstream certificate verification (logged loudly)
  bool maildrop_lock = true;            // RFC 1939 §8 exclusive-access lock, per process
  bool allow_plaintext_auth = false;    // USER/PASS and AUTH PLAIN on non-TLS, non-loopback connections
  pop3::Limits limits;
  log::Level log_level = log::Level::Info;
  log::Format log_format = log::Format::Json;
  uint64_t drain_timeout_ms = 30'000;     // SIGTERM: how long sessions may go on before shutdown
  io::HostPort admin{"127.0.0.1", 9110};  // admin HTTP endpoint: /metrics, /healthz, /readyz
  bool admin_enabled = true;              // --no-admin turns it off
  uint64_t readiness_probe_interval_ms = 10'000;  // /readyz: a TCP connect to the upstream this often
  std::string config_file;
  bool check_config = false;              // --check-config: validate, print "configuration OK", exit
};

enum class CommandLineOutcome { Run, ExitSuccess };

// Fills `config` from --config FILE, then argv, then the POPGATE_* entries of `environment`
// ("NAME=value", as in environ): the command line overrides the file, the environment overrides
// both (the Kubernetes way). --help and --version print to `out` and return ExitSuccess.
// Throws ConfigError.
CommandLineOutcome parse_command_line(int argc, const char* const* argv,
                                      const std::vector<std::string>& environment, Config& config,
                                      std::string& out);
// The same without environment variables.
CommandLineOutcome parse_command_line(int argc, const char* const* argv, Config& config, std::string& out);

// "POPGATE_IDLE_TIMEOUT" for "idle-timeout".
std::string environment_variable_name(std::string_view option);

std::string usage();

}  // namespace popgate
