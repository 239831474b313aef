// Config: every setting of popgate, from the command line and an optional JSON file.
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
  std::string config_file;
};

enum class CommandLineOutcome { Run, ExitSuccess };

// Fills `config` from argv (and from --config FILE, which the command line overrides).
// --help and --version print to `out` and return ExitSuccess. Throws ConfigError.
CommandLineOutcome parse_command_line(int argc, const char* const* argv, Config& config, std::string& out);

std::string usage();

}  // namespace popgate
