// ConfigReloader: SIGHUP re-reads the configuration and the certificates for new sessions.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/config/tls_certificates.h"
#include "gateway/identity/credential_source.h"
#include "gateway/io/loop.h"
#include "gateway/session/pop3_service.h"

namespace popgate {

class ConfigReloader {
 public:
  // Reads the config file, the environment and the original command line again; throws ConfigError.
  using Parse = std::function<Config()>;

  // `certificates` is null when popgate started without --tls-cert.
  ConfigReloader(io::Loop& loop, Pop3Service& service, TlsCertificates* certificates, Parse parse);

  // One SIGHUP. Sessions accepted afterwards get the new settings (limits, timeouts, upstream,
  // mailbox, delete mode, mark_seen, log level and format, auth failure delay, certificate);
  // live sessions keep theirs. Changed listen addresses are not rebound, and TLS cannot be
  // switched on or off: a warning names them ("restart to apply"). If anything in the new
  // configuration is unusable, nothing changes, one error line says why, and this returns false.
  bool reload();

  // Runs after every reload with its outcome: the hook for popgate_config_reloads_total{result}.
  void set_on_reload(std::function<void(bool ok)> on_reload) { on_reload_ = std::move(on_reload); }
  // --workers: hands a configuration the main service took to the other loops, and runs
  // `applied` on this loop once every one of them has it. The reload's log lines (and on_reload)
  // wait for that, so a client that saw "config_reloaded" gets the new settings from whichever
  // loop accepts it. Unset: the main service is the only one.
  using ApplyElsewhere =
      std::function<void(const std::shared_ptr<const Config>& config, std::function<void()> applied)>;
  void set_apply_elsewhere(ApplyElsewhere apply) { apply_elsewhere_ = std::move(apply); }
  // How the accounts file's "oauth2" identities find their client (none: such identities are errors).
  void set_oauth2_clients(OAuth2ClientResolver oauth2_clients) {
    oauth2_clients_ = std::move(oauth2_clients);
  }

 private:
  bool fail(const char* event, const std::string& reason);

  io::Loop& loop_;
  Pop3Service& service_;
  TlsCertificates* certificates_;
  Parse parse_;
  std::function<void(bool ok)> on_reload_;
  ApplyElsewhere apply_elsewhere_;
  OAuth2ClientResolver oauth2_clients_;
};

// The settings that differ, by their config-file field names, in the option table's order.
std::vector<std::string> changed_settings(const Config& before, const Config& after);

// Of those, the ones only a restart applies.
bool needs_restart(const std::string& setting);

}  // namespace popgate
