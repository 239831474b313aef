// ImapMailbox: login, snapshot, streamed fetches and the UPDATE state over IMAP.
#include "adapters/imap/imap_mailbox.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "adapters/imap/imap_snapshot.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/tls_transport.h"
#include "gateway/log.h"
#include "protocol/common/ascii.h"
#include "protocol/imap/imap_response_interpreter.h"

namespace popgate {
namespace {

using ascii::iequals;
using ascii::istarts_with;
using ascii::upper;

std::string describe(const imap::Response& response) {
  std::string text = response.name;
  if (!response.code.empty()) text += " [" + response.code + "]";
  if (!response.text.empty()) text += " " + response.text;
  return log::sanitize(text, 200);
}

// What a tagged NO means for the POP3 client: a transient refusal is [SYS/TEMP], whatever
// else the command's failure would be.
ErrorKind classify_no(const imap::Response& response, ErrorKind otherwise) {
  return imap::is_transient(response) ? ErrorKind::Temporary : otherwise;
}

}  // namespace

std::string make_imap_uidl(uint32_t uid, uint32_t uidvalidity) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%08x%08x", uid, uidvalidity);
  return buffer;
}

struct ImapMailbox::FetchState {
  MessageInfo message;
  FetchKind kind = FetchKind::Whole;
  BodySink* sink = nullptr;
  Done done;
  uint64_t offset = 0;        // next partial-fetch offset (TOP)
  bool started = false;       // on_body_start() was called
  bool wants_more = true;     // the sink still takes chunks
  bool got_body = false;      // the current command delivered a body item
  bool in_body = false;       // inside the body literal
  uint64_t chunk_octets = 0;  // body octets the current command delivered
};

ImapMailbox::ImapMailbox(io::Loop& loop, const ImapSettings& settings)
    : MailboxBase(loop), settings_(settings) {}

ImapMailbox::~ImapMailbox() {
  alive_.revoke();
}

bool ImapMailbox::has_capability(std::string_view name) const {
  return capabilities_.count(upper(name)) > 0;
}

// ---------------------------------------------------------------- open

void ImapMailbox::open(Credentials credentials, OpenDone done) {
  credentials_ = std::move(credentials);
  open_done_ = std::move(done);
  connecting_ =
      io::connect_tcp(loop_, settings_.host, settings_.port, settings_.policy.timeout_ms,
                      [this](Result<io::TransportPtr> transport) { on_connected(std::move(transport)); });
}

void ImapMailbox::on_connected(Result<io::TransportPtr> transport) {
  // Not destroyed inside its own callback: let it go on the next tick.
  loop_.deferred_delete(std::move(connecting_));
  if (!transport) return finish_open(transport.error());
  if (settings_.tls != UpstreamTls::Implicit) return start_session(std::move(transport).value());
  handshaking_ = io::TlsTransport::connect(loop_, std::move(transport).value(), settings_.tls_context,
                                           settings_.host, settings_.policy.tls_handshake_timeout_ms,
                                           [this](Status status) { on_tls_ready(std::move(status)); });
}

void ImapMailbox::on_tls_ready(Status status) {
  if (!status) {
    // Not destroyed inside its own callback.
    loop_.deferred_delete(std::move(handshaking_));
    return finish_open(
        make_error(ErrorKind::Temporary, "TLS with the upstream failed: " + status.error().detail));
  }
  tls_active_ = true;
  start_session(std::move(handshaking_));
}

void ImapMailbox::start_session(io::TransportPtr transport) {
  connection_ = std::make_unique<ImapConnection>(loop_, std::move(transport), settings_.policy.timeout_ms);
  connection_->set_unsolicited_handler([this](const imap::Response& response) { note_untagged(response); });
  connection_->await_greeting([this](Result<imap::Response> greeting) { on_greeting(std::move(greeting)); });
}

void ImapMailbox::on_greeting(Result<imap::Response> greeting) {
  if (!greeting) return finish_open(greeting.error());
  const imap::Response& response = greeting.value();
  switch (*response.status) {
    case imap::StatusKind::Ok:
      break;
    case imap::StatusKind::PreAuth:
      // A gateway that accepted PREAUTH would let any password through.
      return finish_open(
          make_error(ErrorKind::Permanent, "upstream greeted with PREAUTH; refusing to skip the login"));
    case imap::StatusKind::Bye:
      return finish_open(
          make_error(ErrorKind::Temporary, "upstream refused the connection: " + describe(response)));
    default:
      return finish_open(make_error(ErrorKind::Protocol, "unexpected greeting: " + describe(response)));
  }
  note_untagged(response);
  if (capabilities_.empty()) return request_capabilities(&ImapMailbox::secure_then_login);
  secure_then_login();
}

void ImapMailbox::secure_then_login() {
  if (settings_.tls != UpstreamTls::StartTls || tls_active_) return login();
  if (!has_capability("STARTTLS")) {
    if (io::is_loopback_host(settings_.host)) return login();
    return finish_open(
        make_error(ErrorKind::Permanent,
                   "upstream does not offer STARTTLS; refusing to send the password in the clear "
                   "(imap://HOST?tls=none allows it)"));
  }
  connection_->run(connection_->builder().starttls(), {}, [this](Result<imap::Response> result) {
    if (!result) return finish_open(result.error());
    if (result.value().status != imap::StatusKind::Ok) {
      return finish_open(make_error(ErrorKind::Temporary, "STARTTLS refused: " + describe(result.value())));
    }
    connection_->start_tls(settings_.tls_context, settings_.host, settings_.policy.tls_handshake_timeout_ms,
                           [this](Status status) {
                             if (!status) return finish_open(status.error());
                             tls_active_ = true;
                             // RFC 3501 §6.2.1: capabilities learnt before TLS are void.
                             capabilities_.clear();
                             request_capabilities(&ImapMailbox::login);
                           });
  });
}

void ImapMailbox::request_capabilities(void (ImapMailbox::*next)()) {
  CommandObserver observer;
  observer.on_untagged = [this](const imap::Response& response) { note_untagged(response); };
  connection_->run(connection_->builder().capability(), std::move(observer),
                   [this, next](Result<imap::Response> result) {
                     if (!result) return finish_open(result.error());
                     if (result.value().status != imap::StatusKind::Ok) {
                       return finish_open(
                           make_error(ErrorKind::Protocol, "CAPABILITY failed: " + describe(result.value())));
                     }
                     (this->*next)();
                   });
}

std::optional<sasl::OAuthMechanism> ImapMailbox::bearer_mechanism() const {
  // The client's own mechanism when the upstream offers it, else whichever of the two it offers.
  const bool xoauth2 = has_capability("AUTH=XOAUTH2");
  const bool oauthbearer = has_capability("AUTH=OAUTHBEARER");
  if (iequals(credentials_.mechanism, "OAUTHBEARER") && oauthbearer) return sasl::OAuthMechanism::Oauthbearer;
  if (xoauth2) return sasl::OAuthMechanism::Xoauth2;
  if (oauthbearer) return sasl::OAuthMechanism::Oauthbearer;
  return std::nullopt;
}

void ImapMailbox::login() {
  auto& builder = connection_->builder();
  builder.set_literal_plus(has_capability("LITERAL+"));
  const bool sasl_ir = has_capability("SASL-IR");
  imap::Command command;
  if (credentials_.kind == CredentialKind::BearerToken) {
    const std::optional<sasl::OAuthMechanism> mechanism = bearer_mechanism();
    if (!mechanism) {
      credentials_.password.wipe();
      return finish_open(
          make_error(ErrorKind::Permanent,
                     "upstream offers neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER for the bearer token"));
    }
    // Without SASL-IR the response follows the "+" (the form Exchange Online expects).
    command = builder.authenticate_oauth(*mechanism, credentials_.user, credentials_.password, sasl_ir);
  } else {
    const bool sasl_plain = has_capability("AUTH=PLAIN");
    if (has_capability("LOGINDISABLED") && !sasl_plain) {
      return finish_open(
          make_error(ErrorKind::Permanent, "upstream refuses plaintext login (LOGINDISABLED)"));
    }
    command = sasl_plain ? builder.authenticate_plain(credentials_.user, credentials_.password, sasl_ir)
                         : builder.login(credentials_.user, credentials_.password);
  }
  connection_->run(std::move(command), {}, [this](Result<imap::Response> result) {
    credentials_.password.wipe();
    if (!result) return finish_open(result.error());
    const imap::Response& response = result.value();
    if (response.status == imap::StatusKind::No) {
      // A throttled login is [LOGIN-DELAY] for the client (RFC 2449 §8.1.1): retrying at once
      // only makes it worse. A refused token or password is [AUTH].
      const ErrorKind kind =
          imap::is_throttling(response) ? ErrorKind::LoginDelay : classify_no(response, ErrorKind::Auth);
      return finish_open(make_error(kind, "upstream refused the login: " + describe(response)));
    }
    if (response.status != imap::StatusKind::Ok) {
      return finish_open(make_error(ErrorKind::Protocol, "login failed: " + describe(response)));
    }
    // Capabilities change after login (RFC 3501 §6.2.3): UIDPLUS and MOVE matter for UPDATE.
    capabilities_.clear();
    note_untagged(response);
    if (capabilities_.empty()) return request_capabilities(&ImapMailbox::select_mailbox);
    select_mailbox();
  });
}

void ImapMailbox::select_mailbox() {
  CommandObserver observer;
  observer.on_untagged = [this](const imap::Response& response) { note_untagged(response); };
  connection_->run(
      connection_->builder().select(settings_.policy.mailbox), std::move(observer),
      [this](Result<imap::Response> result) {
        if (!result) return finish_open(result.error());
        const imap::Response& response = result.value();
        if (response.status == imap::StatusKind::No) {
          ErrorKind kind = imap::is_nonexistent(response) ? ErrorKind::Permanent
                                                          : classify_no(response, ErrorKind::Temporary);
          return finish_open(make_error(
              kind, "SELECT " + log::sanitize(settings_.policy.mailbox) + " failed: " + describe(response)));
        }
        if (response.status != imap::StatusKind::Ok) {
          return finish_open(make_error(ErrorKind::Protocol, "SELECT failed: " + describe(response)));
        }
        if (uidvalidity_ == 0) {
          return finish_open(make_error(ErrorKind::Protocol, "SELECT gave no UIDVALIDITY"));
        }
        take_snapshot();
      });
}

void ImapMailbox::take_snapshot() {
  snapshot_.mailbox_key =
      mailbox_key("imap", settings_.host, settings_.port, credentials_.user, settings_.policy.mailbox);
  if (exists_ == 0) return finish_open(std::move(snapshot_));
  const SnapshotFilter& filter = settings_.policy.filter;
  if (!filter.searches()) return list_messages({"1:*"});
  // The upstream picks the messages (RFC 3501 §6.4.4); only theirs are listed.
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  search(snapshot_search_criteria(filter, now_s), [this](Result<std::vector<uint32_t>> found) {
    if (!found) return finish_open(found.error());
    if (found.value().empty()) return finish_open(std::move(snapshot_));
    list_messages(imap::make_uid_sets(found.value()));
  });
}

void ImapMailbox::search(const std::string& criteria,
                         std::function<void(Result<std::vector<uint32_t>>)> done) {
  auto found = std::make_shared<std::vector<uint32_t>>();
  CommandObserver observer;
  observer.on_untagged = [this, found](const imap::Response& response) {
    if (response.name != "SEARCH") return note_untagged(response);
    std::vector<uint32_t> uids = imap::search_uids(response);
    found->insert(found->end(), uids.begin(), uids.end());
  };
  connection_->run(connection_->builder().uid_search(criteria), std::move(observer),
                   [found, criteria, done = std::move(done)](Result<imap::Response> result) {
                     if (!result) return done(result.error());
                     if (result.value().status != imap::StatusKind::Ok) {
                       return done(make_error(ErrorKind::Temporary,
                                              "SEARCH " + criteria + " failed: " + describe(result.value())));
                     }
                     std::sort(found->begin(), found->end());
                     found->erase(std::unique(found->begin(), found->end()), found->end());
                     done(std::move(*found));
                   });
}

void ImapMailbox::list_messages(std::vector<std::string> uid_sets) {
  auto uids_and_sizes = std::make_shared<std::vector<std::pair<uint32_t, uint64_t>>>();
  // EXISTS is the peer's word: reserve no more than a sane mailbox, grow past it if real.
  uids_and_sizes->reserve(std::min<uint64_t>(exists_, 100'000));
  auto sets = std::make_shared<std::vector<std::string>>(std::move(uid_sets));
  list_next(sets, 0, uids_and_sizes);
}

void ImapMailbox::list_next(std::shared_ptr<std::vector<std::string>> sets, size_t next,
                            std::shared_ptr<std::vector<std::pair<uint32_t, uint64_t>>> uids_and_sizes) {
  if (next == sets->size()) {
    fill_snapshot(std::move(*uids_and_sizes), uidvalidity_, settings_.policy.filter, snapshot_);
    return finish_open(std::move(snapshot_));
  }
  CommandObserver observer;
  observer.on_untagged = [this, uids_and_sizes](const imap::Response& response) {
    if (response.name != "FETCH") return note_untagged(response);
    // A FETCH without both is an unsolicited flag update: not part of the listing.
    if (auto entry = imap::fetch_uid_and_size(response))
      uids_and_sizes->emplace_back(entry->uid, entry->size);
  };
  connection_->run(
      connection_->builder().uid_fetch((*sets)[next], "(UID RFC822.SIZE)"), std::move(observer),
      [this, sets, next, uids_and_sizes](Result<imap::Response> result) {
        if (!result) return finish_open(result.error());
        if (result.value().status != imap::StatusKind::Ok) {
          return finish_open(make_error(ErrorKind::Temporary, "listing failed: " + describe(result.value())));
        }
        list_next(sets, next + 1, uids_and_sizes);
      });
}

void ImapMailbox::forget_login_secrets(bool) {
  credentials_.password.wipe();  // whatever the outcome: the upstream session stays logged in
}

void ImapMailbox::note_untagged(const imap::Response& response) {
  if (auto capabilities = imap::announced_capabilities(response)) {
    capabilities_.insert(capabilities->begin(), capabilities->end());
  } else if (auto exists = imap::announced_exists(response)) {
    exists_ = *exists;
  } else if (auto uidvalidity = imap::announced_uidvalidity(response)) {
    if (uidvalidity_ == 0) {
      uidvalidity_ = *uidvalidity;
    } else if (*uidvalidity != uidvalidity_) {
      uidvalidity_changed_ = true;  // every UID of the snapshot now names nothing
    }
  }
}

// ---------------------------------------------------------------- reuse

bool ImapMailbox::can_park() const {
  return connection_ && connection_->idle() && !open_done_ && !fetch_ && uidvalidity_ != 0;
}

void ImapMailbox::set_lost_handler(std::function<void()> lost) {
  if (connection_) connection_->set_failure_handler(std::move(lost));
}

void ImapMailbox::reopen(OpenDone done) {
  open_done_ = std::move(done);
  if (!connection_ || connection_->failed()) {
    run_later(
        [this] { finish_open(make_error(ErrorKind::Temporary, "the parked upstream connection is gone")); });
    return;
  }
  // A new SELECT, not NOOP and the old view: the server closes the previous selection and
  // reports the mailbox afresh (RFC 3501 §6.3.1), so EXISTS counts mail delivered since, the
  // listing below lacks what was expunged, and a changed UIDVALIDITY is seen (the UIDLs then
  // change with it). The previous session's state goes with it.
  uidvalidity_ = 0;
  uidvalidity_changed_ = false;
  exists_ = 0;
  snapshot_ = Snapshot{};
  select_mailbox();
}

// ---------------------------------------------------------------- fetch

void ImapMailbox::fetch(const MessageInfo& message, FetchKind kind, BodySink& sink, Done done) {
  if (!connection_ || connection_->failed()) {
    return defer_done(std::move(done), make_error(ErrorKind::Temporary, "upstream connection is gone"));
  }
  fetch_ = std::make_unique<FetchState>();
  fetch_->message = message;
  fetch_->kind = kind;
  fetch_->sink = &sink;
  fetch_->done = std::move(done);
  fetch_next_chunk();
}

void ImapMailbox::fetch_next_chunk() {
  FetchState& state = *fetch_;
  state.got_body = false;
  state.chunk_octets = 0;
  std::string items;
  if (state.kind == FetchKind::Whole) {
    // BODY[] sets \Seen as a side effect; BODY.PEEK[] leaves the flags alone (RFC 3501 §6.4.5).
    items = settings_.policy.mark_seen ? "(BODY[])" : "(BODY.PEEK[])";
  } else {
    // TOP: partial fetches, so a large body is never transferred just for its first lines.
    items = "(BODY.PEEK[]<" + std::to_string(state.offset) + "." + std::to_string(kTopChunk) + ">)";
  }
  // The sink may destroy this mailbox from inside its callbacks: touch nothing afterwards then.
  auto deliver = [this](std::string_view bytes) {
    io::Liveness::Watch alive = alive_.watch();
    FetchState* f = fetch_.get();
    if (!f->started) {
      f->started = true;
      f->sink->on_body_start();
      if (!alive) return;
    }
    f->chunk_octets += bytes.size();
    if (f->wants_more && !bytes.empty()) {
      bool more = f->sink->on_body_chunk(bytes);
      if (!alive) return;
      f->wants_more = more;
    }
  };
  CommandObserver observer;
  observer.on_untagged = [this, deliver](const imap::Response& response) {
    if (response.name != "FETCH") return note_untagged(response);
    // A tiny body may come as a quoted string rather than a literal. NIL is how a server
    // says the message is gone from under its stale view (RFC 2180 §4.1.3): not a body.
    const imap::Value* body = imap::fetch_item(response, "BODY[");
    if (body && body->kind == imap::ValueKind::String) {
      fetch_->got_body = true;
      deliver(body->text);
    }
  };
  observer.on_literal_begin = [this, deliver](const imap::LiteralBegin& begin) {
    if (!istarts_with(begin.item, "BODY[")) return;
    fetch_->got_body = true;
    fetch_->in_body = true;
    deliver({});
  };
  observer.on_literal_data = [this, deliver](std::string_view bytes) {
    if (fetch_->in_body) deliver(bytes);
  };
  observer.on_literal_end = [this] { fetch_->in_body = false; };
  // Synced at the first chunk: a message another client expunged is then reported gone
  // instead of being served from the upstream's stale view.
  imap::Command command = connection_->builder().uid_fetch(state.message.upstream_id, items);
  auto run = state.offset == 0 ? &ImapConnection::run_synced : &ImapConnection::run;
  (connection_.get()->*run)(std::move(command), std::move(observer), [this](Result<imap::Response> result) {
    if (!result) return finish_fetch(result.error());
    const imap::Response& response = result.value();
    FetchState& f = *fetch_;
    if (response.status == imap::StatusKind::Ok) {
      // UID FETCH of an expunged UID is not an error in IMAP, just silent.
      if (!f.got_body && !f.started) {
        return finish_fetch(
            make_error(ErrorKind::NotFound, "message UID " + f.message.upstream_id + " is gone"));
      }
      if (f.kind == FetchKind::HeadFirst && f.wants_more && f.chunk_octets == kTopChunk) {
        f.offset += kTopChunk;
        return fetch_next_chunk();
      }
      return finish_fetch(Ok{});
    }
    if (response.status == imap::StatusKind::No && !f.started && imap::is_message_gone(response)) {
      return finish_fetch(make_error(ErrorKind::NotFound, "message is gone: " + describe(response)));
    }
    ErrorKind kind = response.status == imap::StatusKind::No ? ErrorKind::Temporary : ErrorKind::Protocol;
    finish_fetch(make_error(kind, "FETCH failed: " + describe(response)));
  });
}

void ImapMailbox::finish_fetch(Status status) {
  Done done = std::move(fetch_->done);
  fetch_.reset();
  done(std::move(status));
}

void ImapMailbox::pause_body() {
  if (connection_) connection_->pause_reading();
}

void ImapMailbox::resume_body() {
  if (connection_) connection_->resume_reading();
}

// ---------------------------------------------------------------- UPDATE

void ImapMailbox::commit(std::vector<MessageInfo> deleted, Done done) {
  if (deleted.empty()) return defer_done(std::move(done), Ok{});
  if (!connection_ || connection_->failed()) {
    return defer_done(std::move(done), make_error(ErrorKind::Temporary, "upstream connection is gone"));
  }
  if (uidvalidity_changed_) {
    return defer_done(
        std::move(done),
        make_error(ErrorKind::Temporary, "UIDVALIDITY changed during the session; deleting nothing"));
  }
  std::vector<uint32_t> uids;
  uids.reserve(deleted.size());
  for (const auto& message : deleted) {
    if (auto uid = imap::parse_number(message.upstream_id)) uids.push_back(*uid);
  }
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  std::vector<std::string> sets = imap::make_uid_sets(uids);
  auto& builder = connection_->builder();

  std::vector<imap::Command> commands;
  switch (settings_.policy.delete_mode) {
    case DeleteMode::Keep:
      if (!settings_.policy.mark_seen) return defer_done(std::move(done), Ok{});
      [[fallthrough]];
    case DeleteMode::Seen:
      for (const auto& set : sets) commands.push_back(builder.uid_store(set, "+FLAGS.SILENT (\\Seen)"));
      return run_sequence(std::move(commands), std::move(done));
    case DeleteMode::Move:
      if (has_capability("MOVE")) {
        for (const auto& set : sets) commands.push_back(builder.uid_move(set, settings_.policy.move_target));
        return run_sequence(std::move(commands), std::move(done));
      }
      // Without MOVE (RFC 6851 §3.3): COPY, then delete the originals as below.
      for (const auto& set : sets) commands.push_back(builder.uid_copy(set, settings_.policy.move_target));
      [[fallthrough]];
    case DeleteMode::Expunge:
      for (const auto& set : sets) commands.push_back(builder.uid_store(set, "+FLAGS.SILENT (\\Deleted)"));
      auto mark_and_expunge = [this, commands = std::move(commands), uids, done]() mutable {
        run_sequence(std::move(commands),
                     [this, uids = std::move(uids), done = std::move(done)](Status status) mutable {
                       if (!status) return done(std::move(status));
                       expunge_marked(std::move(uids), std::move(done));
                     });
      };
      if (has_capability("UIDPLUS")) return mark_and_expunge();
      // Without UIDPLUS, look before touching anything: if another client's message is
      // already \Deleted, a plain EXPUNGE would take it too, so nothing is marked at all.
      return check_no_foreign_deleted(
          uids, [mark_and_expunge = std::move(mark_and_expunge), done](Status status) mutable {
            if (!status) return done(std::move(status));
            mark_and_expunge();
          });
  }
}

void ImapMailbox::expunge_marked(std::vector<uint32_t> uids, Done done) {
  auto& builder = connection_->builder();
  if (has_capability("UIDPLUS")) {
    std::vector<imap::Command> commands;
    for (const auto& set : imap::make_uid_sets(uids)) commands.push_back(builder.uid_expunge(set));
    return run_sequence(std::move(commands), std::move(done));
  }
  // Checked again after marking: another client may have flagged something meanwhile.
  check_no_foreign_deleted(uids, [this, done](Status status) mutable {
    if (!status) return done(std::move(status));
    std::vector<imap::Command> commands;
    commands.push_back(connection_->builder().expunge());
    run_sequence(std::move(commands), std::move(done));
  });
}

void ImapMailbox::check_no_foreign_deleted(std::vector<uint32_t> ours, Done done) {
  // A plain EXPUNGE removes every \Deleted message, including ones another client flagged.
  search("DELETED",
         [ours = std::move(ours), done = std::move(done)](Result<std::vector<uint32_t>> flagged) mutable {
           if (!flagged) return done(flagged.error());
           for (uint32_t uid : flagged.value()) {
             if (!std::binary_search(ours.begin(), ours.end(), uid)) {
               return done(make_error(ErrorKind::Temporary,
                                      "another client's message is flagged \\Deleted and the upstream "
                                      "lacks UIDPLUS; not expunging"));
             }
           }
           done(Ok{});
         });
}

struct ImapMailbox::Sequence {
  std::vector<imap::Command> commands;
  size_t next = 0;
  Done done;
};

void ImapMailbox::run_sequence(std::vector<imap::Command> commands, Done done) {
  if (commands.empty()) return defer_done(std::move(done), Ok{});
  run_next(std::make_shared<Sequence>(Sequence{std::move(commands), 0, std::move(done)}));
}

void ImapMailbox::run_next(std::shared_ptr<Sequence> sequence) {
  if (sequence->next == sequence->commands.size()) return sequence->done(Ok{});
  imap::Command command = std::move(sequence->commands[sequence->next++]);
  std::string summary = command.summary;
  CommandObserver observer;
  observer.on_untagged = [this](const imap::Response& response) { note_untagged(response); };
  connection_->run(
      std::move(command), std::move(observer), [this, sequence, summary](Result<imap::Response> result) {
        if (!result) return sequence->done(result.error());
        const imap::Response& response = result.value();
        if (response.status != imap::StatusKind::Ok) {
          ErrorKind kind =
              response.status == imap::StatusKind::No ? ErrorKind::Temporary : ErrorKind::Protocol;
          return sequence->done(make_error(kind, summary + " failed: " + describe(response)));
        }
        run_next(sequence);
      });
}

}  // namespace popgate
