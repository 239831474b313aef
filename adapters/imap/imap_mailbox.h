// ImapMailbox: the Mailbox over one IMAP connection (RFC 3501, UIDPLUS, MOVE).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/imap/imap_connection.h"
#include "adapters/mailbox_base.h"
#include "gateway/io/tcp_connector.h"
#include "gateway/io/tls_context.h"

namespace popgate {

// How the upstream connection is secured.
enum class UpstreamTls {
  Implicit,  // imaps:// (RFC 8314)
  StartTls,  // imap://: STARTTLS when offered; without it, plaintext only to a loopback host
  None,      // imap://...?tls=none: the operator accepts plaintext
};

struct ImapSettings {
  std::string host;
  uint16_t port = 143;
  UpstreamTls tls = UpstreamTls::StartTls;
  std::shared_ptr<io::TlsClientContext> tls_context;  // set unless tls is None
  MailboxPolicy policy;
};

class ImapMailbox final : public MailboxBase {
 public:
  ImapMailbox(io::Loop& loop, const ImapSettings& settings);
  ~ImapMailbox() override;

  void open(Credentials credentials, OpenDone done) override;
  void fetch(const MessageInfo& message, FetchKind kind, BodySink& sink, Done done) override;
  void pause_body() override;
  void resume_body() override;
  void commit(std::vector<MessageInfo> deleted, Done done) override;
  std::string_view kind() const override { return "imap"; }
  bool can_park() const override;
  void set_lost_handler(std::function<void()> lost) override;
  void reopen(OpenDone done) override;

  // The size of each partial fetch that TOP uses.
  static constexpr uint64_t kTopChunk = 64 * 1024;

 private:
  struct FetchState;

  // open(), one step after another.
  void on_connected(Result<io::TransportPtr> transport);
  void on_tls_ready(Status status);
  void start_session(io::TransportPtr transport);
  void on_greeting(Result<imap::Response> greeting);
  void secure_then_login();
  void request_capabilities(void (ImapMailbox::*next)());
  void login();
  // The SASL mechanism that carries a bearer token to this upstream, if it offers one.
  std::optional<sasl::OAuthMechanism> bearer_mechanism() const;
  void after_login();
  void select_mailbox();
  void take_snapshot();
  // UID SEARCH `criteria`: the UIDs found, ascending, once each; an Error (Temporary) for a refusal.
  void search(const std::string& criteria, std::function<void(Result<std::vector<uint32_t>>)> done);
  // UID FETCH (UID RFC822.SIZE) of each set in turn, then the snapshot (imap_snapshot.h).
  void list_messages(std::vector<std::string> uid_sets);
  void list_next(std::shared_ptr<std::vector<std::string>> sets, size_t next,
                 std::shared_ptr<std::vector<std::pair<uint32_t, uint64_t>>> uids_and_sizes);
  void forget_login_secrets(bool opened) override;

  void fetch_next_chunk();
  void finish_fetch(Status status);

  // Runs the commands one after another; the first that fails ends the sequence with its error.
  struct Sequence;
  void run_sequence(std::vector<imap::Command> commands, Done done);
  void run_next(std::shared_ptr<Sequence> sequence);
  void expunge_marked(std::vector<uint32_t> uids, Done done);
  void check_no_foreign_deleted(std::vector<uint32_t> ours, Done done);

  void note_untagged(const imap::Response& response);
  bool has_capability(std::string_view name) const;

  ImapSettings settings_;
  io::ConnectOperationPtr connecting_;
  io::TransportPtr handshaking_;  // implicit TLS, until the handshake is done
  std::unique_ptr<ImapConnection> connection_;
  bool tls_active_ = false;
  std::set<std::string> capabilities_;  // upper case
  Credentials credentials_;
  uint32_t uidvalidity_ = 0;
  bool uidvalidity_changed_ = false;
  uint64_t exists_ = 0;
  Snapshot snapshot_;
  std::unique_ptr<FetchState> fetch_;
};

using ImapMailboxFactory = AdapterMailboxFactory<ImapMailbox, ImapSettings>;

// RFC 1939 UIDL for an IMAP message: UID then UIDVALIDITY, 8 lower-case hex digits each.
// The same as Dovecot's pop3_uidl_format = %08Xu%08Xv, so clients moving between a
// Dovecot POP3 server and popgate on one mailbox do not download everything again.
std::string make_imap_uidl(uint32_t uid, uint32_t uidvalidity);

}  // namespace popgate
