// Building an ImapMailboxFactory or JmapMailboxFactory from a Config.
#include "gateway/mailbox_factory.h"

#include "adapters/imap/imap_mailbox.h"
#include "adapters/jmap/jmap_mailbox.h"

namespace popgate {
namespace {

ImapSettings imap_settings(const Config& config, std::shared_ptr<io::TlsClientContext> tls_context) {
  ImapSettings imap;
  imap.host = config.upstream.host;
  imap.port = config.upstream.port;
  imap.tls = config.upstream.scheme == "imaps" ? UpstreamTls::Implicit
             : config.upstream.tls_none        ? UpstreamTls::None
                                               : UpstreamTls::StartTls;
  imap.tls_context = std::move(tls_context);
  imap.tls_handshake_timeout_ms = config.tls_handshake_timeout_ms;
  imap.mailbox = config.mailbox;
  imap.delete_mode = config.delete_mode;
  imap.move_target = config.move_target;
  imap.mark_seen = config.mark_seen;
  imap.timeout_ms = config.upstream_timeout_ms;
  return imap;
}

JmapSettings jmap_settings(const Config& config, std::shared_ptr<io::TlsClientContext> tls_context) {
  JmapSettings jmap;
  jmap.session_url.tls = config.upstream.scheme == "jmaps";
  jmap.session_url.host = config.upstream.host;
  jmap.session_url.port = config.upstream.port;
  jmap.session_url.target = config.upstream.path;
  jmap.tls_context = std::move(tls_context);
  jmap.tls_handshake_timeout_ms = config.tls_handshake_timeout_ms;
  jmap.mailbox = config.mailbox;
  jmap.delete_mode = config.delete_mode;
  jmap.move_target = config.move_target;
  jmap.mark_seen = config.mark_seen;
  jmap.timeout_ms = config.upstream_timeout_ms;
  return jmap;
}

}  // namespace

Result<std::shared_ptr<MailboxFactory>> make_mailbox_factory(io::Loop& loop, const Config& config) {
  std::shared_ptr<io::TlsClientContext> upstream_tls;
  if (config.upstream.scheme != "jmap" && !config.upstream.tls_none) {
    auto context = io::TlsClientContext::create({config.upstream_ca, !config.upstream_insecure});
    if (!context) return context.error();
    upstream_tls = std::move(context).value();
  }
  if (config.upstream.is_jmap()) {
    return std::shared_ptr<MailboxFactory>(
        std::make_shared<JmapMailboxFactory>(loop, jmap_settings(config, std::move(upstream_tls))));
  }
  return std::shared_ptr<MailboxFactory>(
      std::make_shared<ImapMailboxFactory>(loop, imap_settings(config, std::move(upstream_tls))));
}

}  // namespace popgate
