// popgate's entry point: parse the configuration, start the listeners, run the loop.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>  // environ

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/admin/admin_server.h"
#include "gateway/admin/metrics.h"
#include "gateway/commands/hash_password_command.h"
#include "gateway/commands/oauth_login_command.h"
#include "gateway/config/config.h"
#include "gateway/config/config_reload.h"
#include "gateway/config/tls_certificates.h"
#include "gateway/identity/login_router.h"
#include "gateway/io/loop.h"
#include "gateway/io/signal_watcher.h"
#include "gateway/io/threadpool_work.h"
#include "gateway/limits/maildrop_lock.h"
#include "gateway/log.h"
#include "gateway/oauth2/oauth2_config.h"
#include "gateway/oauth2/oauth2_credential_source.h"
#include "gateway/oauth2/token_manager.h"
#include "gateway/session/pop3_service.h"
#include "gateway/state/state_store.h"
#include "gateway/upstream/upstream_probe.h"
#include "gateway/workers/worker_pool.h"

namespace {

// SIGTERM, SIGINT and SIGHUP stay pending until their watchers are installed: a supervisor that
// signals as soon as the port accepts must not meet the default action (exit without a drain).
void set_lifecycle_signals_blocked(bool blocked) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal);
  pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &signals, nullptr);
}

// libuv's threadpool (getaddrinfo) threads inherit the signal mask of the thread that starts
// them. Started now, while the lifecycle signals are blocked, they never take one: only the
// loop thread does, and once it blocks them again at exit no late signal can kill the process.
// The job is empty; destroying its handle only cancels an empty completion.
void start_threadpool_with_signals_blocked(popgate::io::Loop& loop) {
  const popgate::io::ThreadpoolWorkPtr warm_up = popgate::io::run_on_threadpool(
      loop, [] {}, [] {});
}

// Every session holds two descriptors (client and upstream): take all the kernel allows.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// A core file holds whatever was in memory when popgate died: passwords and tokens in flight. No
// core limit (RLIMIT_CORE 0), and not dumpable at all (a piped core_pattern such as
// systemd-coredump ignores RLIMIT_CORE; PR_SET_DUMPABLE 0 also keeps other non-root processes of
// the same user from ptrace and /proc/PID/mem). --allow-core-dumps leaves both as they were.
void forbid_core_dumps() {
  rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

const char* delete_mode_name(popgate::DeleteMode mode) {
  switch (mode) {
    case popgate::DeleteMode::Expunge:
      return "expunge";
    case popgate::DeleteMode::Keep:
      return "keep";
    case popgate::DeleteMode::Move:
      return "move";
    case popgate::DeleteMode::Seen:
      return "seen";
  }
  return "expunge";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace popgate;
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);
  if (argc >= 2 && std::string_view(argv[1]) == "hash-password") {
    return run_hash_password_command(argc - 1, argv + 1, std::cin, std::cout, std::cerr, STDIN_FILENO);
  }
  // `popgate oauth login CLIENT`: a command of its own, not the server.
  if (argc >= 2 && std::string_view(argv[1]) == "oauth") {
    return run_oauth_command(argc - 1, argv + 1, environment, std::cout, std::cerr);
  }
  Config config;
  try {
    std::string out;
    if (parse_command_line(argc, argv, environment, config, out) == CommandLineOutcome::ExitSuccess) {
      std::fputs(out.c_str(), stdout);
      return 0;
    }
  } catch (const ConfigError& error) {
    std::fprintf(stderr, "popgate: %s\n", error.what());
    return 2;
  }
  if (config.workers == 0) config.workers = default_worker_count();

  if (!config.allow_core_dumps) forbid_core_dumps();
  std::signal(SIGPIPE, SIG_IGN);
  set_lifecycle_signals_blocked(true);
  raise_descriptor_limit();
  log::set_level(config.log_level);
  log::set_format(config.log_format);

  std::unique_ptr<TlsCertificates> certificates;
  if (!config.tls_cert.empty()) {
    auto loaded = TlsCertificates::load(config.tls_cert, config.tls_key);
    if (!loaded) {
      std::fprintf(stderr, "popgate: %s\n", loaded.error().detail.c_str());
      return 2;
    }
    certificates = std::move(loaded).value();
  }
  Metrics metrics;  // before the loop: work the loop drops at its end may hold gauge tokens
  io::Loop loop;
  // OAuth2 clients: secrets and keys are read and stored refresh tokens loaded now, so a broken
  // client fails the start (and --check-config) rather than the first login.
  std::unique_ptr<oauth2::OAuth2TokenManager> oauth2_tokens;
  if (!config.oauth2_clients_json.empty()) {
    try {
      oauth2::OAuth2Config oauth2_config =
          oauth2::parse_oauth2_config(config.oauth2_clients_json, config.token_dir);
      auto token_tls = io::TlsClientContext::create({});  // identity providers: the system's CAs
      if (!token_tls) throw ConfigError("oauth2: " + token_tls.error().detail);
      oauth2_tokens = std::make_unique<oauth2::OAuth2TokenManager>(loop, std::move(oauth2_config),
                                                                   std::move(token_tls).value(), &metrics);
    } catch (const ConfigError& error) {
      std::fprintf(stderr, "popgate: %s\n", error.what());
      return 2;
    }
    if (Status loaded = oauth2_tokens->load_refresh_tokens(); !loaded) {
      std::fprintf(stderr, "popgate: token_dir: %s\n", loaded.error().detail.c_str());
      return 2;
    }
  }
  // Routing rules and local accounts (the accounts file is read now, and again on SIGHUP).
  OAuth2ClientResolver oauth2_clients;
  if (oauth2_tokens) {
    oauth2_clients = [&oauth2_tokens](const std::string& client) {
      return make_oauth2_credential_source(*oauth2_tokens, client);
    };
  }
  auto routed = make_login_router(loop, config, oauth2_clients);
  if (!routed) {
    std::fprintf(stderr, "popgate: %s\n", routed.error().detail.c_str());
    return 2;
  }
  LoginRouterPtr router = std::move(routed).value();
  // The state replicas share: its password is read and its CA loaded now, so --check-config
  // finds a missing one.
  auto state_store = StateStore::create(config, metrics);
  if (!state_store) {
    std::fprintf(stderr, "popgate: %s\n", state_store.error().detail.c_str());
    return 2;
  }
  std::unique_ptr<StateStore> state = std::move(state_store).value();
  if (oauth2_tokens && oauth2_tokens->refreshes_tokens() && state->shared() && !state->seals_tokens()) {
    // Refreshing on each replica alone is what rotating identity providers punish by revoking the grant.
    std::fprintf(stderr,
                 "popgate: state-store-key-file: required with a shared state store and OAuth2 clients of "
                 "grant refresh_token (their tokens are kept in the store, sealed with this key)\n");
    return 2;
  }
  if (config.check_config) {
    std::fputs("configuration OK\n", stdout);
    return 0;
  }
  // Shared by every worker loop (each thread-safe): one lock per maildrop, one count per address.
  LoopStateStorePtr main_state = state->for_loop(loop);
  // The token manager runs on this loop: one refresh per client for every replica.
  if (oauth2_tokens) oauth2_tokens->share_through(main_state->oauth_tokens());
  ServiceShared service_shared;
  auto shared_config = std::make_shared<const Config>(std::move(config));
  // With several loops every line says which one wrote it; the main loop is worker 0.
  if (shared_config->workers > 1) log::set_thread_worker(0);
  // The router builds every route's mailbox factory, the top-level upstream's included.
  Pop3Service service(loop, shared_config, router->default_mailboxes(), main_state->maildrop_locks(),
                      SharedLimits{main_state->login_failures(), main_state->identity_governor()},
                      certificates.get(), metrics, &service_shared);
  service.reconfigure(shared_config, router);  // logins go through the router
  if (Status started = service.start(); !started) {
    log::Line(log::Level::Error, "startup_failed").field("reason", started.error().detail);
    return 1;
  }
  // --workers N: N-1 more loops on threads of their own, on the ports the main service got. They
  // start while the lifecycle signals are blocked and keep them blocked: signals come here.
  WorkerPool workers(loop, service, service_shared);
  if (Status started = workers.start(
          shared_config,
          WorkerShared{state.get(), &service_shared, certificates.get(), &metrics, oauth2_clients, {}});
      !started) {
    log::Line(log::Level::Error, "startup_failed").field("reason", "worker: " + started.error().detail);
    return 1;
  }
  // /readyz: the listeners are up (from here on), the upstream took a TCP connection at the last
  // probe, and the service is not draining. Without the endpoint nobody asks: nothing probes.
  std::unique_ptr<UpstreamProbe> probe;
  AdminServerPtr admin;
  if (shared_config->admin_enabled) {
    UpstreamProbe::Options probing;
    probing.target = [&] {
      return io::HostPort{service.config()->upstream.host, service.config()->upstream.port};
    };
    probing.interval_ms = shared_config->readiness_probe_interval_ms;
    probing.timeout_ms = std::min<uint64_t>(shared_config->readiness_probe_interval_ms, 5'000);
    probe = std::make_unique<UpstreamProbe>(loop, std::move(probing));
    probe->start();
    auto admin_address = io::SocketAddress::from_numeric(shared_config->admin);  // checked by the config
    auto admin_started = AdminServer::start(loop, *admin_address, metrics, [&] {
      // Logins would only get [SYS/TEMP]: let the
      // Service send them to a replica that can serve.
      const bool store_refuses =
          state->down() && shared_config->state_store_failure == StateStoreFailure::Closed;
      return !service.draining() && probe->reachable() && !store_refuses;
    });
    if (!admin_started) {
      log::Line(log::Level::Error, "startup_failed")
          .field("reason", "admin: " + admin_started.error().detail);
      return 1;
    }
    admin = std::move(admin_started).value();
    log::Line(log::Level::Info, "admin_listening").field("address", admin->local_address().to_string());
  }
  log::Line(log::Level::Info, "started")
      .field("version", POPGATE_VERSION)
      .field("upstream", shared_config->upstream.to_string())
      .field("mailbox", shared_config->mailbox)
      .field("delete_mode", delete_mode_name(shared_config->delete_mode))
      .field("mark_seen", shared_config->mark_seen)
      .field("idle_timeout_s", static_cast<double>(shared_config->idle_timeout_ms) / 1000.0)
      .field("stls", certificates != nullptr)
      .field("state_store", shared_config->state_store.to_string())
      .field("workers", static_cast<uint64_t>(workers.loops()));
  if (shared_config->upstream_insecure) {
    log::Line(log::Level::Warn, "upstream_insecure")
        .field("message", "upstream certificates are NOT verified (--upstream-insecure)");
  }
  if (shared_config->upstream.tls_none) {
    log::Line(log::Level::Warn, "upstream_plaintext")
        .field("message", "passwords go to the upstream in the clear");
  }

  // SIGTERM/SIGINT: drain. The listeners close, service.draining() turns /readyz to 503, sessions
  // finish on their own until --drain-timeout, then the rest are shut down without UPDATE. A
  // second signal skips the wait; a third stops the loop at once.
  int stop_requests = 0;
  auto request_stop = [&] {
    ++stop_requests;
    if (stop_requests == 1) {
      metrics.set_draining(true);
      workers.drain(service.config()->drain_timeout_ms, [&] {
        // No session is left. The last replies are with the kernel; connections still lingering
        // (waiting for a peer's FIN, up to 10 s: clients, and upstreams that never hang up) are
        // closed by ~Loop instead of holding the exit back.
        if (probe) probe->stop();
        if (admin) admin->close();
        loop.stop();
      });
    } else if (stop_requests == 2) {
      workers.shut_down_sessions();
    } else {
      loop.stop();
    }
  };
  io::SignalWatcher on_term(loop, SIGTERM, request_stop);
  io::SignalWatcher on_int(loop, SIGINT, request_stop);
  // SIGHUP: the config file, the environment and this command line again, and the certificates,
  // for new sessions; live sessions keep theirs; anything unusable keeps everything as it was.
  ConfigReloader reloader(loop, service, certificates.get(), [&] {
    Config next;
    std::string ignored;  // --help and --version exited at start
    parse_command_line(argc, argv, environment, next, ignored);
    if (next.workers == 0) next.workers = default_worker_count();
    return next;
  });
  reloader.set_on_reload([&](bool ok) { metrics.config_reloaded(ok); });
  reloader.set_apply_elsewhere([&](const std::shared_ptr<const Config>& next, std::function<void()> applied) {
    workers.reconfigure(next, std::move(applied));
  });
  reloader.set_oauth2_clients(oauth2_clients);
  io::SignalWatcher on_hup(loop, SIGHUP, [&] { reloader.reload(); });
  start_threadpool_with_signals_blocked(loop);
  set_lifecycle_signals_blocked(false);  // whatever arrived meanwhile is handled now
  loop.run();
  // The watchers go with the rest below; a late SIGTERM must not turn exit 0 into "killed".
  set_lifecycle_signals_blocked(true);
  workers.stop();  // each worker's sessions (none after a drain) and loop go on its own thread
  if (oauth2_tokens) oauth2_tokens->share_through(nullptr);  // main_state goes first
  log::Line(log::Level::Info, "stopped");
  return 0;
}
