// SIGHUP: parse everything again, check it all, then swap it in for new sessions in one step.
#include "gateway/config/config_reload.h"

#include "gateway/identity/login_router.h"
#include "gateway/log.h"

namespace popgate {
namespace {

bool same_addresses(const std::vector<io::HostPort>& a, const std::vector<io::HostPort>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].host != b[i].host || a[i].port != b[i].port) return false;
  }
  return true;
}

bool same_routes(const std::vector<RouteConfig>& a, const std::vector<RouteConfig>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].match != b[i].match || a[i].mode != b[i].mode ||
        a[i].upstream.to_string() != b[i].upstream.to_string() || a[i].upstream_ca != b[i].upstream_ca ||
        a[i].upstream_insecure != b[i].upstream_insecure || a[i].mailbox != b[i].mailbox ||
        a[i].delete_mode != b[i].delete_mode || a[i].move_target != b[i].move_target ||
        a[i].mark_seen != b[i].mark_seen) {
      return false;
    }
  }
  return true;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<std::string> changed_settings(const Config& before, const Config& after) {
  std::vector<std::string> changed;
  auto check = [&](const char* name, bool same) {
    if (!same) changed.emplace_back(name);
  };
  check("listen", same_addresses(before.listen, after.listen));
  check("listen_tls", same_addresses(before.listen_tls, after.listen_tls));
  check("tls_cert", before.tls_cert == after.tls_cert);
  check("tls_key", before.tls_key == after.tls_key);
  check("workers", before.workers == after.workers);
  check("tls_handshake_timeout", before.tls_handshake_timeout_ms == after.tls_handshake_timeout_ms);
  check("upstream", before.upstream.to_string() == after.upstream.to_string());
  check("upstream_ca", before.upstream_ca == after.upstream_ca);
  check("upstream_insecure", before.upstream_insecure == after.upstream_insecure);
  check("mailbox", before.mailbox == after.mailbox);
  check("delete_mode", before.delete_mode == after.delete_mode && before.move_target == after.move_target);
  check("mark_seen", before.mark_seen == after.mark_seen);
  check("idle_timeout", before.idle_timeout_ms == after.idle_timeout_ms);
  check("auth_failure_delay", before.auth_failure_delay_ms == after.auth_failure_delay_ms);
  check("upstream_timeout", before.upstream_timeout_ms == after.upstream_timeout_ms);
  check("max_line_length", before.limits.max_command_line == after.limits.max_command_line);
  check("max_bad_commands",
        before.limits.max_bad_commands_after_login == after.limits.max_bad_commands_after_login);
  check("max_bad_commands_auth",
        before.limits.max_bad_commands_before_login == after.limits.max_bad_commands_before_login);
  check("maildrop_lock", before.maildrop_lock == after.maildrop_lock);
  check("allow_plaintext_auth", before.allow_plaintext_auth == after.allow_plaintext_auth);
  check("log_level", before.log_level == after.log_level);
  check("log_format", before.log_format == after.log_format);
  check("drain_timeout", before.drain_timeout_ms == after.drain_timeout_ms);
  check("admin", before.admin.host == after.admin.host && before.admin.port == after.admin.port);
  check("admin_enabled", before.admin_enabled == after.admin_enabled);
  check("readiness_probe_interval", before.readiness_probe_interval_ms == after.readiness_probe_interval_ms);
  check("accounts_file", before.accounts_file == after.accounts_file);
  check("auth_mode", before.auth_mode == after.auth_mode);
  check("routes", same_routes(before.routes, after.routes));
  check("oauth2_clients", before.oauth2_clients_json == after.oauth2_clients_json);
  check("token_dir", before.token_dir == after.token_dir);
  check("state_store", before.state_store.to_string() == after.state_store.to_string() &&
                           before.state_store_ca == after.state_store_ca &&
                           before.state_store_user == after.state_store_user &&
                           before.state_store_password_file == after.state_store_password_file &&
                           before.state_store_password_env == after.state_store_password_env &&
                           before.state_store_key_file == after.state_store_key_file &&
                           before.state_store_prefix == after.state_store_prefix &&
                           before.state_store_connect_timeout_ms == after.state_store_connect_timeout_ms &&
                           before.state_store_timeout_ms == after.state_store_timeout_ms &&
                           before.state_store_failure == after.state_store_failure);
  check("maildrop_lease", before.maildrop_lease_ms == after.maildrop_lease_ms);
  return changed;
}

bool needs_restart(const std::string& setting) {
  // The admin endpoint and the upstream probe are set up once, in main.
  // The worker loops and their listeners are started once, too, and so is the OAuth2 token
  // manager (its clients' cached tokens and refreshes in flight belong to the process), and the
  // state store (every loop's connection, and the leases they hold).
  return setting == "listen" || setting == "listen_tls" || setting == "admin" || setting == "admin_enabled" ||
         setting == "readiness_probe_interval" || setting == "workers" || setting == "oauth2_clients" ||
         setting == "token_dir" || setting == "state_store" || setting == "maildrop_lease";
}

ConfigReloader::ConfigReloader(io::Loop& loop, Pop3Service& service, TlsCertificates* certificates,
                               Parse parse)
    : loop_(loop), service_(service), certificates_(certificates), parse_(std::move(parse)) {}

bool ConfigReloader::fail(const char* event, const std::string& reason) {
  log::Line(log::Level::Error, event)
      .field("reason", reason)
      .field("message", "the configuration in use stays");
  if (on_reload_) on_reload_(false);
  return false;
}

bool ConfigReloader::reload() {
  // Everything that can fail comes first; nothing is applied until all of it has worked.
  Config next;
  try {
    next = parse_();
  } catch (const ConfigError& error) {
    return fail("config_reload_failed", error.what());
  }
  // The routes' factories, and the accounts file read again (a bad one keeps the old).
  auto router = make_login_router(loop_, next, oauth2_clients_);
  if (!router) return fail("config_reload_failed", router.error().detail);

  const Config& now = *service_.config();
  std::vector<std::string> restart;
  for (const auto& setting : changed_settings(now, next)) {
    if (needs_restart(setting)) restart.push_back(setting);
  }
  // Listeners and the OAuth2 clients stay as they are, and so does the config's record of them.
  next.listen = now.listen;
  next.listen_tls = now.listen_tls;
  next.admin = now.admin;
  next.admin_enabled = now.admin_enabled;
  next.readiness_probe_interval_ms = now.readiness_probe_interval_ms;
  next.workers = now.workers;
  next.oauth2_clients_json = now.oauth2_clients_json;
  next.token_dir = now.token_dir;
  // STLS offers and implicit-TLS listeners were set up at start: TLS stays on or off.
  if (next.tls_cert.empty() != now.tls_cert.empty()) {
    restart.push_back(now.tls_cert.empty() ? "tls_cert (TLS on)" : "tls_cert (TLS off)");
    next.tls_cert = now.tls_cert;
    next.tls_key = now.tls_key;
  }
  if (certificates_) {
    // Last, because it cannot be undone: from here on nothing fails.
    if (Status loaded = certificates_->reload(next.tls_cert, next.tls_key); !loaded) {
      return fail("tls_reload_failed", loaded.error().detail);
    }
    log::Line(log::Level::Info, "tls_reloaded").field("cert", next.tls_cert);
  }

  std::vector<std::string> changed = changed_settings(now, next);
  log::set_level(next.log_level);
  log::set_format(next.log_format);
  if (const AccountsPtr& accounts = router.value()->accounts()) {
    log::Line(log::Level::Info, "accounts_loaded")
        .field("file", next.accounts_file)
        .field("accounts", static_cast<uint64_t>(accounts->size()));
  }
  auto config = std::make_shared<const Config>(std::move(next));
  service_.reconfigure(config, std::move(router).value());
  auto applied = [this, changed = joined(changed), restart = joined(restart), warn = !restart.empty()] {
    log::Line(log::Level::Info, "config_reloaded").field("changed", changed);
    if (warn) {
      log::Line(log::Level::Warn, "config_restart_required")
          .field("settings", restart)
          .field("message", "restart to apply: these are set up once, at start");
    }
    if (on_reload_) on_reload_(true);
  };
  if (apply_elsewhere_) {
    apply_elsewhere_(config, std::move(applied));
  } else {
    applied();
  }
  return true;
}

}  // namespace popgate
