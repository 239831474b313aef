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

namespace {

// Every session holds two descriptors (client and upstream): take all the kernel allows.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
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

  std::signal(SIGPIPE, SIG_IGN);
  raise_descriptor_limit();
  log::set_level(config.log_level);

  io::Loop loop;
  ImapSettings imap{config.upstream.host, config.upstream.port, config.mailbox, config.delete_mode,
                    config.move_target,   config.mark_seen,     config.upstream_timeout_ms};
  ImapMailboxFactory mailboxes(loop, imap);
  MaildropLocks locks;
  auto shared_config = std::make_shared<const Config>(std::move(config));
  Pop3Service service(loop, shared_config, mailboxes, locks);
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
      .field("idle_timeout_s", static_cast<double>(shared_config->idle_timeout_ms) / 1000.0);

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
  loop.run();
  log::Line(log::Level::Info, "stopped");
  return 0;
}
