// Config: every setting of popgate, from an optional JSON file, the command line and POPGATE_*
// environment variables.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/mailbox.h"
#include "gateway/config/state_store_url.h"
#include "gateway/io/socket_address.h"
#include "gateway/log.h"
#include "protocol/pop3/pop3_server.h"

namespace popgate {

// A start-up error: main prints it as one line and exits with status 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The upstream URL schemes: IMAP with STARTTLS when offered, IMAP over implicit TLS, JMAP over
// HTTP, JMAP over HTTPS.
enum class UpstreamScheme { Imap, Imaps, Jmap, Jmaps };

struct UpstreamUrl {
  std::string scheme;  // as written: "imap", "imaps", "jmap" or "jmaps" (parse_upstream_url)
  std::string host;
  uint16_t port = 0;
  std::string path;  // JMAP session resource; "/.well-known/jmap" by default (RFC 8620 §2.2)
  // The scheme for code that decides by it (parse_upstream_url accepts only these four).
  UpstreamScheme kind() const {
    return scheme == "imaps"   ? UpstreamScheme::Imaps
           : scheme == "jmap"  ? UpstreamScheme::Jmap
           : scheme == "jmaps" ? UpstreamScheme::Jmaps
                               : UpstreamScheme::Imap;
  }
  bool is_jmap() const { return kind() == UpstreamScheme::Jmap || kind() == UpstreamScheme::Jmaps; }
  bool tls_none = false;  // "imap://host?tls=none": never TLS, even to a non-loopback host
  std::string to_string() const;
};

UpstreamUrl parse_upstream_url(std::string_view text);  // throws ConfigError

// How a route checks a login (README, "Local accounts and routing"): passed through to the
// upstream as it is, or checked against the accounts file and replaced by its identity's.
enum class AuthMode { Passthrough, LocalAccounts };

// One rule of the config file's "routes": the upstream settings of the logins it matches. A
// field the rule does not set is the top-level setting's.
struct RouteConfig {
  std::string match;  // "user@example.com" (exact), "*@example.com" or "*"
  AuthMode mode = AuthMode::Passthrough;
  UpstreamUrl upstream;
  std::string upstream_ca;
  bool upstream_insecure = false;
  std::string mailbox;
  DeleteMode delete_mode = DeleteMode::Expunge;
  std::string move_target;
  bool mark_seen = false;
  bool only_unseen = false;
  uint64_t max_age_days = 0;
  uint64_t max_messages = 0;
  uint64_t max_message_size = 0;
};

// The settings a routing rule may override, copied between a Config and a RouteConfig (both
// spell them the same way).
template <class From, class To>
void copy_route_settings(const From& from, To& to) {
  to.upstream = from.upstream;
  to.upstream_ca = from.upstream_ca;
  to.upstream_insecure = from.upstream_insecure;
  to.mailbox = from.mailbox;
  to.delete_mode = from.delete_mode;
  to.move_target = from.move_target;
  to.mark_seen = from.mark_seen;
  to.only_unseen = from.only_unseen;
  to.max_age_days = from.max_age_days;
  to.max_messages = from.max_messages;
  to.max_message_size = from.max_message_size;
}

struct Config {
  std::vector<io::HostPort> listen;
  std::vector<io::HostPort> listen_tls;  // implicit TLS (RFC 8314, port 995)
  std::string tls_cert;                  // PEM chain; with tls_key enables STLS and listen_tls
  std::string tls_key;
  uint64_t tls_handshake_timeout_ms = 10'000;
  // Event loops (threads) serving POP3, each accepting on the listeners through SO_REUSEPORT.
  // 0: one per CPU the process may use (main resolves it at start and on SIGHUP), at most 64.
  uint64_t workers = 0;
  UpstreamUrl upstream;
  std::string mailbox = "INBOX";
  DeleteMode delete_mode = DeleteMode::Expunge;
  std::string move_target;             // for DeleteMode::Move
  bool mark_seen = false;              // RETR sets \Seen upstream
  // What a device sees (adapters/mailbox.h, SnapshotFilter); 0 / false: everything.
  bool only_unseen = false;
  uint64_t max_age_days = 0;
  uint64_t max_messages = 0;
  uint64_t max_message_size = 0;
  uint64_t idle_timeout_ms = 600'000;  // RFC 1939 §3: at least 10 minutes
  uint64_t auth_failure_delay_ms = 2'000;
  uint64_t upstream_timeout_ms = 60'000;  // connect, and each upstream response
  // Abuse limits (README, "Abuse limits"); 0 turns a limit off.
  uint64_t max_sessions = 10'000;                    // sessions in total
  uint64_t max_sessions_per_ip = 256;                // per client address (IPv6: per /64)
  uint64_t max_connection_rate_per_ip = 0;           // connections a second per address, bursts as large
  uint64_t auth_throttle_window_ms = 300'000;        // failed logins are counted over this window
  uint64_t auth_throttle_max_failures = 10;          // per user name, then [LOGIN-DELAY]
  uint64_t auth_throttle_max_failures_per_ip = 100;  // per client address, then [LOGIN-DELAY]
  uint64_t auth_failure_delay_max_ms = 30'000;       // the failure delay doubles up to this
  uint64_t update_timeout_ms = 120'000;              // QUIT's UPDATE, all of it
  // Upstream session reuse (gateway/upstream/upstream_pool.h): after a clean QUIT the logged-in upstream
  // session is kept this long for the next login of the same user with the same credential.
  // 90 s: a device polling every minute hits, with room for its jitter. 0 turns reuse off.
  uint64_t upstream_reuse_time_ms = 90'000;
  uint64_t upstream_reuse_max = 1'000;  // parked upstream sessions per event loop and upstream
  // The per-identity upstream governor (gateway/limits/upstream_governor.h). 8 sessions: Exchange Online
  // allows about 20 concurrent IMAP connections per mailbox, and the owner's own clients and
  // other popgate replicas need their share.
  uint64_t max_upstream_sessions_per_identity = 8;  // 0: no cap
  uint64_t upstream_backoff_ms = 5'000;             // after a throttling answer; doubles; 0: none
  uint64_t upstream_backoff_max_ms = 300'000;       // the doubling stops here
  bool allow_core_dumps = false;                    // core files may hold passwords: off by default
  std::string upstream_ca;                          // CA bundle for the upstream; empty: the system's
  bool upstream_insecure = false;                   // skip upstream certificate verification (logged loudly)
  bool maildrop_lock = true;                        // RFC 1939 §8 exclusive-access lock
  // The state replicas share (gateway/state/): the maildrop locks, for now. Local: none shared.
  StateStoreUrl state_store;
  std::string state_store_ca;             // CA bundle for rediss://; empty: the system's
  std::string state_store_user;           // a Redis 6 ACL user; empty: requirepass's password alone
  std::string state_store_password_file;  // read once at start
  std::string state_store_password_env;   // or the name of an environment variable holding it
  // 32 bytes (base64 or hex) sealing OAuth2 tokens in a shared store; read once at start.
  std::string state_store_key_file;
  std::string state_store_prefix = "popgate:";  // of every key: deployments may share a Redis
  uint64_t state_store_connect_timeout_ms = 2'000;
  uint64_t state_store_timeout_ms = 1'000;  // each command; a stalled store costs a login this much
  StateStoreFailure state_store_failure = StateStoreFailure::Open;
  // A shared maildrop lock is a lease this long, renewed every third of it while the session lives:
  // a replica killed outright frees its maildrops when the lease runs out.
  uint64_t maildrop_lease_ms = 30'000;
  bool allow_plaintext_auth = false;  // USER/PASS and AUTH PLAIN on non-TLS, non-loopback connections
  pop3::Limits limits;
  log::Level log_level = log::Level::Info;
  log::Format log_format = log::Format::Json;
  uint64_t drain_timeout_ms = 30'000;             // SIGTERM: how long sessions may go on before shutdown
  io::HostPort admin{"127.0.0.1", 9110};          // admin HTTP endpoint: /metrics, /healthz, /readyz
  bool admin_enabled = true;                      // --no-admin turns it off
  uint64_t readiness_probe_interval_ms = 10'000;  // /readyz: a TCP connect to the upstream this often
  // OAuth2 upstream credentials (gateway/oauth2/oauth2_config.h parses them): the config file's
  // "oauth2_clients" object as JSON text, and where refresh tokens are kept.
  std::string oauth2_clients_json;
  std::string token_dir;
  // Local accounts and routing rules (gateway/identity/).
  std::string accounts_file;          // JSON accounts file; re-read on SIGHUP
  std::optional<AuthMode> auth_mode;  // of the top-level (default) route; unset: local
                                      // accounts when accounts_file is set, else passthrough
  std::vector<RouteConfig> routes;    // config file only
  std::string config_file;
  bool check_config = false;  // --check-config: validate, print "configuration OK", exit
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
