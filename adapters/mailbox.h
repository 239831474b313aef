// Mailbox: the one asynchronous interface every upstream adapter (IMAP, JMAP) implements.
//
// A Pop3Session owns one Mailbox. Each operation takes a completion callback that runs
// exactly once, later, on the loop thread, never inside the call. Destroying the Mailbox
// cancels whatever is in flight: no callback runs after the destructor has started.
// One operation at a time: the session never starts one before the last completed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate {

// What `password` holds: a password, or an OAuth2 access token (RFC 6750) that the adapter
// presents as IMAP AUTHENTICATE XOAUTH2/OAUTHBEARER or an HTTP Bearer header.
enum class CredentialKind { Password, BearerToken };

struct Credentials {
  std::string mechanism;  // how the client proved it: "USER", "PLAIN", "XOAUTH2", "OAUTHBEARER"
  std::string user;
  SecretString password;  // the password or, for CredentialKind::BearerToken, the access token
  CredentialKind kind = CredentialKind::Password;
};

// One message of the frozen maildrop. Sessions address messages upstream only by
// upstream_id, never by position (nothing lost even when the mailbox changes meanwhile).
struct MessageInfo {
  std::string upstream_id;  // IMAP: the UID; JMAP: the Email id
  uint64_t size = 0;        // RFC 5322 octets with CRLF line ends (IMAP RFC822.SIZE, JMAP size)
  std::string uidl;         // stable across sessions; RFC 1939 UIDL characters only
};

struct Snapshot {
  std::string mailbox_key;            // upstream + user, for the exclusive maildrop lock
  std::vector<MessageInfo> messages;  // POP3 message n is messages[n-1]
  uint64_t too_large = 0;             // messages left out by SnapshotFilter::max_message_size
};

// Receives a message body as the upstream delivers it.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The upstream has the message and starts sending it. Called once, before any chunk.
  virtual void on_body_start() = 0;
  // Returns false once the sink wants no more (TOP has what it needs): the adapter then
  // stops asking the upstream for more and completes the fetch successfully.
  virtual bool on_body_chunk(std::string_view chunk) = 0;
};

// What UPDATE does with the messages the client deleted.
enum class DeleteMode {
  Expunge,  // remove them
  Keep,     // leave them (flag \Seen when mark_seen is on)
  Move,     // move them to another mailbox (a Trash)
  Seen,     // flag them \Seen and leave them: with only_unseen, each message once
};

// What a device sees of the mailbox (README, "Device policies"). The upstream applies the filters
// when the snapshot is taken (IMAP SEARCH, JMAP Email/query), so nothing is fetched to be thrown
// away. Numbering is 1..n over what they leave, in mailbox order, frozen for the session.
struct SnapshotFilter {
  bool only_unseen = false;       // messages without \Seen ($seen)
  uint64_t max_age_days = 0;      // received in the last N days (internal date, receivedAt); 0: any
  uint64_t max_messages = 0;      // the newest N of what the other filters leave; 0: all
  uint64_t max_message_size = 0;  // larger messages are left out (and counted); 0: any size
  bool searches() const { return only_unseen || max_age_days > 0; }
};

// What the operator chose for the served mailbox and the upstream's pace: the same for every
// adapter, so the gateway fills it once from its configuration.
struct MailboxPolicy {
  std::string mailbox = "INBOX";
  DeleteMode delete_mode = DeleteMode::Expunge;
  std::string move_target;       // DeleteMode::Move: where the deleted messages go
  bool mark_seen = false;        // RETR flags the message \Seen ($seen) upstream
  SnapshotFilter filter;
  uint64_t timeout_ms = 60'000;  // connecting, and each response
  uint64_t tls_handshake_timeout_ms = 10'000;
};

enum class FetchKind {
  Whole,      // RETR
  HeadFirst,  // TOP: the start of the message matters, the sink will stop early
};

class Mailbox {
 public:
  using OpenDone = std::function<void(Result<Snapshot>)>;
  using Done = std::function<void(Status)>;

  virtual ~Mailbox() = default;

  // Connect, authenticate, open the mailbox and take the snapshot.
  // Auth for refused credentials; Temporary when the upstream is unreachable or fails.
  virtual void open(Credentials credentials, OpenDone done) = 0;

  // Stream one message into `sink` (which must outlive the operation).
  // NotFound when it was removed upstream after the snapshot; then on_body_start never ran.
  virtual void fetch(const MessageInfo& message, FetchKind kind, BodySink& sink, Done done) = 0;

  // Backpressure: stop / resume reading the upstream while a fetch streams.
  virtual void pause_body() = 0;
  virtual void resume_body() = 0;

  // UPDATE state: remove exactly these messages (by upstream_id) as the delete mode says.
  // On failure nothing beyond what the upstream confirmed has changed.
  virtual void commit(std::vector<MessageInfo> deleted, Done done) = 0;

  // Name for logs and metric labels: "imap", "jmap".
  virtual std::string_view kind() const = 0;

  // ---- Reuse after a clean QUIT (gateway/upstream/upstream_pool.h); an adapter without it keeps the
  // defaults. True when the mailbox was opened, nothing is in flight and the upstream session is healthy, so
  // it may wait, logged in, for the next session of the same user and credential.
  virtual bool can_park() const { return false; }
  // While parked: `lost` runs once, later, if the upstream ends the session (BYE, EOF, error,
  // timeout); null clears it. The handler must not destroy the mailbox inside the call.
  virtual void set_lost_handler(std::function<void()> lost) { (void)lost; }
  // Takes a fresh snapshot for a new session on the session it is already logged in to (only
  // called on a mailbox that could be parked). Temporary when the upstream session is gone.
  virtual void reopen(OpenDone done) { done(make_error(ErrorKind::Internal, "reopen is not supported")); }
};

using MailboxPtr = std::unique_ptr<Mailbox>;

// Creates one Mailbox per POP3 session (the place routing rules will live).
class MailboxFactory {
 public:
  virtual ~MailboxFactory() = default;
  virtual MailboxPtr create() = 0;

  // Upstream session reuse (gateway/upstream/upstream_pool.h): a mailbox that an earlier session of the
  // same upstream user with the same credential left logged in (open it with reopen()), or null
  // (then create() one). `park_key` receives the key under which the new session's mailbox may
  // be parked at its clean end; empty when reuse is off.
  virtual MailboxPtr take_parked(const Credentials& credentials, std::string& park_key) {
    (void)credentials;
    park_key.clear();
    return nullptr;
  }
  // After a clean end: keeps `mailbox` (whose can_park() is true) logged in under `park_key`.
  virtual void park(const std::string& park_key, MailboxPtr&& mailbox) { (void)park_key, (void)mailbox; }
};

}  // namespace popgate
