// popgate's entry point: parse the configuration, start the listeners, run the loop.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>

#include "adapters/imap/imap_mailbox.h"
#include "gateway/config.h"
#include "gateway/io/loop.h"
#include "gateway/io/signal_watcher.h"
#include "gateway/log.h"
#include "gateway/maildrop_lock.h"
#include "gateway/pop3_service.h"
#include "gateway/tls_certificates.h"

namespace {

// Every session holds two descriptors (client and upstream): take all the kernel allows.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

popgate::ImapSettings imap_settings(const popgate::Config& config) {
  using popgate::UpstreamTls;
  popgate::ImapSettings imap;
  imap.host = config.upstream.host;
  imap.port = config.upstream.port;
  imap.tls = config.upstream.scheme == "imaps" ? UpstreamTls::Implicit
             : config.upstream.tls_none     ? UpstreamTls::None
                                            : UpstreamTls::StartTls;
  imap.tls_handshake_timeout_ms = config.tls_handshake_timeout_ms;
  imap.mailbox = config.mailbox;
  imap.delete_mode = config.delete_mode;
  imap.move_target = config.move_target;
  imap.mark_seen = config.mark_seen;
  imap.timeout_ms = config.upstream_timeout_ms;
  return imap;
}

const char* delete_mode_name(popgate::DeleteMode mode) {
  switch (mode) {
    case popgate::DeleteMode::Expunge: return "expunge";
    case popgate::DeleteMode::Keep: return "keep";
    case popgate::DeleteMode::Move: return "move";
  }
  return "expunge";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace popgate;
  Config config;
  try {
    std::string out;
    if (parse_command_line(argc, argv, config, out) == CommandLineOutcome::ExitSuccess) {
      std::fputs(out.c_str(), stdout);
      return 0;
    }
  } catch (const ConfigError& error) {
    std::fprintf(stderr, "popgate: %s\n", error.what());
    return 2;
  }

  if (config.upstream.is_jmap()) {
    // TODO(#4): the JMAP adapter is being wired in.
    std::fprintf(stderr, "popgate: upstream: jmap is not supported yet\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  raise_descriptor_limit();
  log::set_level(config.log_level);

  std::unique_ptr<TlsCertificates> certificates;
  if (!config.tls_cert.empty()) {
    auto loaded = TlsCertificates::load(config.tls_cert, config.tls_key);
    if (!loaded) {
      std::fprintf(stderr, "popgate: %s\n", loaded.error().detail.c_str());
      return 2;
    }
    certificates = std::move(loaded).value();
  }
  ImapSettings imap = imap_settings(config);
  if (imap.tls != UpstreamTls::None) {
    auto context = io::TlsClientContext::create({config.upstream_ca, !config.upstream_insecure});
    if (!context) {
      std::fprintf(stderr, "popgate: %s\n", context.error().detail.c_str());
      return 2;
    }
    imap.tls_context = std::move(context).value();
  }

  io::Loop loop;
  ImapMailboxFactory mailboxes(loop, imap);
  MaildropLocks locks;
  auto shared_config = std::make_shared<const Config>(std::move(config));
  Pop3Service service(loop, shared_config, mailboxes, locks, certificates.get());
  if (Status started = service.start(); !started) {
    log::Line(log::Level::Error, "startup_failed").field("reason", started.error().detail);
    return 1;
  }
  log::Line(log::Level::Info, "started")
      .field("version", POPGATE_VERSION)
      .field("upstream", shared_config->upstream.to_string())
      .field("mailbox", shared_config->mailbox)
      .field("delete_mode", delete_mode_name(shared_config->delete_mode))
      .field("mark_seen", shared_config->mark_seen)
      .field("idle_timeout_s", static_cast<double>(shared_config->idle_timeout_ms) / 1000.0)
      .field("stls", certificates != nullptr);
  if (shared_config->upstream_insecure) {
    log::Line(log::Level::Warn, "upstream_insecure")
        .field("message", "upstream certificates are NOT verified (--upstream-insecure)");
  }
  if (shared_config->upstream.tls_none) {
    log::Line(log::Level::Warn, "upstream_plaintext").field("message", "passwords go to the upstream in the clear");
  }

  int stop_requests = 0;
  auto request_stop = [&] {
    if (++stop_requests == 1) {
      log::Line(log::Level::Info, "stopping").field("sessions", static_cast<uint64_t>(service.active_sessions()));
      service.stop();
    } else {
      loop.stop();  // a second signal: do not wait for lingering connections
    }
  };
  io::SignalWatcher on_term(loop, SIGTERM, request_stop);
  io::SignalWatcher on_int(loop, SIGINT, request_stop);
  // SIGHUP: new certificate for new sessions; live sessions keep theirs; a bad file keeps the old.
  io::SignalWatcher on_hup(loop, SIGHUP, [&] {
    if (!certificates) return;
    if (Status reloaded = certificates->reload(); reloaded) {
      log::Line(log::Level::Info, "tls_reloaded").field("cert", shared_config->tls_cert);
    } else {
      log::Line(log::Level::Error, "tls_reload_failed").field("reason", reloaded.error().detail);
    }
  });
  loop.run();
  log::Line(log::Level::Info, "stopped");
  return 0;
}
