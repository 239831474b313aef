// Building an ImapMailboxFactory or JmapMailboxFactory from a Config.
#include "gateway/upstream/mailbox_factory.h"

#include "adapters/imap/imap_mailbox.h"
#include "adapters/jmap/jmap_mailbox.h"
#include "gateway/upstream/upstream_pool.h"

namespace popgate {
namespace {

MailboxPolicy mailbox_policy(const Config& config) {
  MailboxPolicy policy;
  policy.mailbox = config.mailbox;
  policy.delete_mode = config.delete_mode;
  policy.move_target = config.move_target;
  policy.mark_seen = config.mark_seen;
  policy.filter.only_unseen = config.only_unseen;
  policy.filter.max_age_days = config.max_age_days;
  policy.filter.max_messages = config.max_messages;
  policy.filter.max_message_size = config.max_message_size;
  policy.timeout_ms = config.upstream_timeout_ms;
  policy.tls_handshake_timeout_ms = config.tls_handshake_timeout_ms;
  return policy;
}

// Every scheme but plain JMAP may speak TLS (imap:// through STARTTLS), unless ?tls=none says never.
bool may_use_tls(const UpstreamUrl& url) {
  return url.kind() != UpstreamScheme::Jmap && !url.tls_none;
}

ImapSettings imap_settings(const Config& config, std::shared_ptr<io::TlsClientContext> tls_context) {
  ImapSettings imap;
  imap.host = config.upstream.host;
  imap.port = config.upstream.port;
  imap.tls = config.upstream.kind() == UpstreamScheme::Imaps ? UpstreamTls::Implicit
             : config.upstream.tls_none                      ? UpstreamTls::None
                                                             : UpstreamTls::StartTls;
  imap.tls_context = std::move(tls_context);
  imap.policy = mailbox_policy(config);
  return imap;
}

JmapSettings jmap_settings(const Config& config, std::shared_ptr<io::TlsClientContext> tls_context) {
  JmapSettings jmap;
  jmap.session_url.tls = config.upstream.kind() == UpstreamScheme::Jmaps;
  jmap.session_url.host = config.upstream.host;
  jmap.session_url.port = config.upstream.port;
  jmap.session_url.target = config.upstream.path;
  jmap.tls_context = std::move(tls_context);
  jmap.policy = mailbox_policy(config);
  return jmap;
}

// An adapter's factory with an UpstreamPool in front: logins of a user and credential that
// left a session parked get it back instead of a new connection.
class PoolingMailboxFactory final : public MailboxFactory {
 public:
  PoolingMailboxFactory(io::Loop& loop, std::unique_ptr<MailboxFactory> adapter, std::string adapter_name,
                        UpstreamPoolSettings settings)
      : adapter_(std::move(adapter)), pool_(loop, std::move(adapter_name), settings) {}

  MailboxPtr create() override { return adapter_->create(); }
  MailboxPtr take_parked(const Credentials& credentials, std::string& park_key) override {
    park_key = UpstreamPool::park_key(credentials);
    return pool_.take(park_key);
  }
  void park(const std::string& park_key, MailboxPtr&& mailbox) override {
    pool_.park(park_key, std::move(mailbox));
  }

 private:
  std::unique_ptr<MailboxFactory> adapter_;
  UpstreamPool pool_;  // after adapter_: parked mailboxes go first
};

}  // namespace

Result<std::shared_ptr<MailboxFactory>> make_mailbox_factory(io::Loop& loop, const Config& config) {
  std::shared_ptr<io::TlsClientContext> upstream_tls;
  if (may_use_tls(config.upstream)) {
    auto context = io::TlsClientContext::create({config.upstream_ca, !config.upstream_insecure});
    if (!context) return context.error();
    upstream_tls = std::move(context).value();
  }
  std::unique_ptr<MailboxFactory> adapter;
  if (config.upstream.is_jmap()) {
    adapter = std::make_unique<JmapMailboxFactory>(loop, jmap_settings(config, std::move(upstream_tls)));
  } else {
    adapter = std::make_unique<ImapMailboxFactory>(loop, imap_settings(config, std::move(upstream_tls)));
  }
  if (config.upstream_reuse_time_ms == 0) return std::shared_ptr<MailboxFactory>(std::move(adapter));
  // One pool per factory: the factory is made per loop and per upstream (route or identity), so
  // the pool's key needs only the user and the credential.
  UpstreamPoolSettings pool;
  pool.reuse_time_ms = config.upstream_reuse_time_ms;
  pool.max_parked = config.upstream_reuse_max;
  return std::shared_ptr<MailboxFactory>(std::make_shared<PoolingMailboxFactory>(
      loop, std::move(adapter), config.upstream.is_jmap() ? "jmap" : "imap", pool));
}

}  // namespace popgate
