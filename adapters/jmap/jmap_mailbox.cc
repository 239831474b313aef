// JmapMailbox: session discovery, the listing, streamed blob downloads and Email/set for UPDATE.
#include "adapters/jmap/jmap_mailbox.h"

#include <algorithm>
#include <ctime>

#include "adapters/jmap/retry_after.h"
#include "gateway/log.h"
#include "protocol/common/ascii.h"
#include "protocol/sasl/base64.h"

namespace popgate {
namespace {

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

using ascii::lower;

// Whether the request is part of the login (open) or of a session already running.
enum class Phase { Login, Session };

// What an HTTP status on an authenticated JMAP request means for the POP3 client. 429 (RFC 6585
// §4) and 503 (RFC 9110 §15.6.4) say "not now": at login the client hears [LOGIN-DELAY] (RFC 2449
// §8.1.1: retrying at once only makes it worse), later [SYS/TEMP]; either way with how long the
// server asked us to wait, for the gateway's per-identity backoff. Other 5xx are plain failures.
Error http_error(const io::HttpResponseHead& head, std::string_view what, Phase phase) {
  const int status = head.status;
  std::string detail = std::string(what) + ": HTTP " + std::to_string(status);
  if (status == 401 || status == 403) return make_error(ErrorKind::Auth, detail);
  if (status == 429 || status == 503) {
    Error error = make_error(phase == Phase::Login ? ErrorKind::LoginDelay : ErrorKind::Temporary, detail);
    if (auto field = head.header("Retry-After")) {
      error.retry_after_ms =
          http::parse_retry_after_ms(*field, static_cast<int64_t>(std::time(nullptr))).value_or(0);
    }
    return error;
  }
  if (status >= 500) return make_error(ErrorKind::Temporary, detail);
  return make_error(ErrorKind::Protocol, detail);
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Anything
// else (a CR or LF above all) must not reach a header line.
bool is_b64token(std::string_view token) {
  size_t end = token.size();
  while (end > 0 && token[end - 1] == '=') --end;
  if (end == 0) return false;
  for (char c : token.substr(0, end)) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-' && c != '.' && c != '_' && c != '~' && c != '+' && c != '/') return false;
  }
  return true;
}

constexpr int kMaxRedirects = 3;

}  // namespace

// Adapts a streamed HTTP download to the session's BodySink.
class JmapMailbox::Download final : public io::HttpBodySink {
 public:
  Download(BodySink& sink, Done done) : sink_(sink), done_(std::move(done)) {}

  void on_head(const io::HttpResponseHead& head) override {
    head_ = head;
    status_ = head.status;
    if (status_ == 200) {
      sink_.on_body_start();  // may destroy the mailbox, and this with it: nothing after
    }
  }
  bool on_body(std::string_view chunk) override {
    if (status_ != 200) return false;  // an error page: not worth downloading
    return sink_.on_body_chunk(chunk);
  }

  int status() const { return status_; }
  const io::HttpResponseHead& head() const { return head_; }
  Done take_done() { return std::move(done_); }

 private:
  BodySink& sink_;
  Done done_;
  io::HttpResponseHead head_;
  int status_ = 0;
};

JmapMailbox::JmapMailbox(io::Loop& loop, const JmapSettings& settings)
    : MailboxBase(loop), settings_(settings) {}

JmapMailbox::~JmapMailbox() {
  alive_.revoke();
}

io::HttpConnection& JmapMailbox::http_for(const io::HttpUrl& url) {
  std::string origin =
      std::string(url.tls ? "https://" : "http://") + lower(url.host) + ":" + std::to_string(url.port);
  auto& connection = connections_[origin];
  if (!connection) {
    io::HttpOptions options;
    options.connect_timeout_ms = settings_.policy.timeout_ms;
    options.request_timeout_ms = settings_.policy.timeout_ms;
    options.tls_handshake_timeout_ms = settings_.policy.tls_handshake_timeout_ms;
    io::HttpUrl base = url;
    base.target = "/";
    connection = std::make_unique<io::HttpConnection>(loop_, base, settings_.tls_context, options);
  }
  return *connection;
}

io::HttpRequest JmapMailbox::authorized(std::string method, std::string target) const {
  io::HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.headers.emplace_back("Authorization", std::string(authorization_.reveal()));
  request.headers.emplace_back("Accept", "application/json");
  request.sensitive = true;
  return request;
}

// ---------------------------------------------------------------- open

void JmapMailbox::open(Credentials credentials, OpenDone done) {
  open_done_ = std::move(done);
  user_ = credentials.user;
  if (credentials.kind == CredentialKind::BearerToken) {
    // RFC 6750 §2.1: an OAuth2 access token (AUTH XOAUTH2/OAUTHBEARER, or an OAuth2 client's).
    if (!is_b64token(credentials.password.reveal())) {
      run_later([this] { finish_open(make_error(ErrorKind::Auth, "the bearer token is not a b64token")); });
      return;
    }
    authorization_ = SecretString("Bearer " + std::string(credentials.password.reveal()));
  } else {
    // RFC 7617: Basic credentials; the gateway passes the POP3 login through.
    SecretString pair(credentials.user + ":" + std::string(credentials.password.reveal()));
    authorization_ = SecretString("Basic " + sasl::base64_encode(pair.reveal()));
  }
  get_session(settings_.session_url, kMaxRedirects);
}

void JmapMailbox::get_session(io::HttpUrl url, int redirects_left) {
  http_for(url).request(authorized("GET", url.target), [this, url,
                                                        redirects_left](Result<io::HttpResponse> result) {
    if (!result) return finish_open(result.error());
    const io::HttpResponse& response = result.value();
    if (is_redirect(response.head.status)) {
      // Cyrus answers /.well-known/jmap with a 301 to /jmap (RFC 8620 §2.2 allows it).
      auto location = response.head.header("Location");
      auto next = location ? url.resolve(*location) : std::nullopt;
      if (!next || redirects_left == 0) {
        return finish_open(make_error(ErrorKind::Protocol, "session resource: bad or too many redirects"));
      }
      return get_session(*next, redirects_left - 1);
    }
    if (response.head.status != 200) {
      return finish_open(http_error(response.head, "session resource", Phase::Login));
    }
    on_session(url, response.body);
  });
}

void JmapMailbox::on_session(const io::HttpUrl& session_url, std::string_view body) {
  auto session = jmap::parse_session(body);
  if (!session) return finish_open(session.error());
  session_ = std::move(session).value();
  // apiUrl and downloadUrl may be relative to the session resource (Cyrus sends "/jmap/").
  auto api = session_url.resolve(session_.api_url);
  auto download = session_url.resolve(session_.download_url);
  if (!api || !download) return finish_open(make_error(ErrorKind::Protocol, "session resource has bad URLs"));
  api_url_ = *api;
  download_template_ = download->to_string();
  list_mailboxes();
}

void JmapMailbox::api_call(std::string body, BodyDone done) {
  io::HttpRequest request = authorized("POST", api_url_.target);
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);
  const Phase phase = open_done_ ? Phase::Login : Phase::Session;
  http_for(api_url_).request(std::move(request),
                             [phase, done = std::move(done)](Result<io::HttpResponse> result) {
                               if (!result) return done(result.error());
                               if (result.value().head.status != 200)
                                 return done(http_error(result.value().head, "JMAP API", phase));
                               done(std::move(result.value().body));
                             });
}

void JmapMailbox::list_mailboxes() {
  api_call(jmap::mailbox_get_request(session_.account_id), [this](Result<std::string> body) {
    if (!body) return finish_open(body.error());
    auto mailboxes = jmap::parse_mailbox_get(body.value());
    if (!mailboxes) return finish_open(mailboxes.error());
    auto mailbox = jmap::find_mailbox(mailboxes.value(), settings_.policy.mailbox);
    if (!mailbox) {
      return finish_open(
          make_error(ErrorKind::Permanent, "no mailbox " + log::sanitize(settings_.policy.mailbox)));
    }
    mailbox_id_ = mailbox->id;
    if (settings_.policy.delete_mode == DeleteMode::Move) {
      auto target = jmap::find_mailbox(mailboxes.value(), settings_.policy.move_target);
      if (!target) {
        return finish_open(make_error(
            ErrorKind::Permanent,
            "no mailbox " + log::sanitize(settings_.policy.move_target) + " to move deleted messages to"));
      }
      move_target_id_ = target->id;
    }
    list_page(0);
  });
}

void JmapMailbox::list_page(uint64_t position) {
  uint64_t limit =
      std::max<uint64_t>(1, std::min<uint64_t>(session_.max_objects_in_get, settings_.page_limit));
  api_call(
      jmap::email_page_request(session_.account_id, mailbox_id_, position, limit),
      [this, position](Result<std::string> body) {
        if (!body) return finish_open(body.error());
        auto page = jmap::parse_email_page(body.value());
        if (!page) return finish_open(page.error());
        for (auto& email : page.value().emails) emails_.push_back(std::move(email));
        uint64_t next = position + page.value().ids_in_page;
        if (page.value().ids_in_page > 0 && next < page.value().total) return list_page(next);

        jmap::sort_for_pop3(emails_);
        Snapshot snapshot;
        snapshot.mailbox_key = mailbox_key("jmap", settings_.session_url.host, settings_.session_url.port,
                                           user_, settings_.policy.mailbox);
        snapshot.messages.reserve(emails_.size());
        for (const auto& email : emails_) {
          blob_ids_[email.id] = email.blob_id;
          snapshot.messages.push_back(MessageInfo{email.id, email.size, jmap::uidl_for_email_id(email.id)});
        }
        emails_.clear();
        finish_open(std::move(snapshot));
      });
}

void JmapMailbox::forget_login_secrets(bool opened) {
  if (!opened) authorization_.wipe();  // an open mailbox authorizes every later request with it
}

// ---------------------------------------------------------------- reuse

bool JmapMailbox::can_park() const {
  return !open_done_ && !download_ && !api_url_.host.empty() && !authorization_.empty();
}

void JmapMailbox::reopen(OpenDone done) {
  // The session resource and the kept-alive connections stay; the snapshot queries run again
  // (the mailbox ids too, in case a mailbox was renamed or recreated), so the new session sees
  // mail delivered and removed since. A kept-alive connection the server closed meanwhile is
  // reconnected by HttpConnection, so a parked JMAP mailbox has no "lost" state to report.
  open_done_ = std::move(done);
  blob_ids_.clear();
  emails_.clear();
  list_mailboxes();
}

// ---------------------------------------------------------------- fetch

void JmapMailbox::fetch(const MessageInfo& message, FetchKind, BodySink& sink, Done done) {
  auto blob = blob_ids_.find(message.upstream_id);
  std::optional<io::HttpUrl> url;
  if (blob != blob_ids_.end()) {
    url = io::HttpUrl::parse(jmap::expand_download_url(download_template_, session_.account_id, blob->second,
                                                       "message/rfc822", "message.eml"));
  }
  if (!url) {
    return defer_done(std::move(done), make_error(ErrorKind::Internal, "no download URL for the message"));
  }
  // The blob of a destroyed Email may still download (Cyrus 3.6): ask first whether the
  // message is still there, so one another client removed is NotFound, as over IMAP.
  api_call(jmap::email_exists_request(session_.account_id, message.upstream_id),
           [this, id = message.upstream_id, url = *url, &sink,
            done = std::move(done)](Result<std::string> body) mutable {
             if (!body) return done(body.error());
             auto exists = jmap::parse_email_exists(body.value(), id);
             if (!exists) return done(exists.error());
             if (!exists.value()) return done(make_error(ErrorKind::NotFound, "email " + id + " is gone"));
             download(url, sink, std::move(done));
           });
}

void JmapMailbox::download(const io::HttpUrl& url, BodySink& sink, Done done) {
  // TOP (FetchKind::HeadFirst) needs no range request: when the sink has the lines it wants,
  // it returns false and the transfer is aborted, so a large body is never downloaded in full.
  download_ = std::make_unique<Download>(sink, std::move(done));
  streaming_ = &http_for(url);
  streaming_->request_streaming(authorized("GET", url.target), *download_, [this](Status status) {
    streaming_ = nullptr;
    int http_status = download_->status();
    io::HttpResponseHead head = download_->head();
    Done done = download_->take_done();
    // Destroyed on the next tick: the HTTP layer may still hold the sink on its stack.
    loop_.deferred_delete(std::move(download_));
    if (!status) return done(std::move(status));
    if (http_status == 200) return done(Ok{});
    if (http_status == 404 || http_status == 410) {
      return done(make_error(ErrorKind::NotFound, "blob download: HTTP " + std::to_string(http_status)));
    }
    done(http_error(head, "blob download", Phase::Session));
  });
}

void JmapMailbox::pause_body() {
  if (streaming_) streaming_->pause();
}

void JmapMailbox::resume_body() {
  if (streaming_) streaming_->resume();
}

// ---------------------------------------------------------------- UPDATE

struct JmapMailbox::CommitState {
  std::vector<std::string> ids;
  size_t next = 0;
  std::vector<std::pair<std::string, std::string>> failed;
  Mailbox::Done done;
};

void JmapMailbox::commit(std::vector<MessageInfo> deleted, Done done) {
  auto state = std::make_shared<CommitState>();
  if (settings_.policy.delete_mode != DeleteMode::Keep || settings_.policy.mark_seen) {
    for (const auto& message : deleted) state->ids.push_back(message.upstream_id);
  }
  state->done = std::move(done);
  commit_batch(std::move(state));
}

void JmapMailbox::commit_batch(std::shared_ptr<CommitState> state) {
  if (state->next >= state->ids.size()) {
    run_later([state] {
      if (state->failed.empty()) return state->done(Ok{});
      std::string detail = std::to_string(state->failed.size()) + " of " + std::to_string(state->ids.size()) +
                           " messages were not removed (first: " + state->failed.front().second + ")";
      state->done(make_error(ErrorKind::Temporary, detail));
    });
    return;
  }
  size_t count = std::min<size_t>(state->ids.size() - state->next, session_.max_objects_in_set);
  std::vector<std::string> batch(state->ids.begin() + state->next, state->ids.begin() + state->next + count);
  state->next += count;
  std::string body;
  switch (settings_.policy.delete_mode) {
    case DeleteMode::Expunge:
      body = jmap::destroy_request(session_.account_id, batch);
      break;
    case DeleteMode::Keep:
    case DeleteMode::Seen:
      body = jmap::set_seen_request(session_.account_id, batch);
      break;
    case DeleteMode::Move:
      body = jmap::move_request(session_.account_id, batch, mailbox_id_, move_target_id_);
      break;
  }
  api_call(std::move(body), [this, state, batch = std::move(batch)](Result<std::string> reply) {
    if (!reply) return state->done(reply.error());  // never retried blindly: the outcome is unknown
    auto outcome = jmap::parse_set_response(reply.value(), batch);
    if (!outcome) return state->done(outcome.error());
    for (auto& failure : outcome.value().failed) state->failed.push_back(std::move(failure));
    commit_batch(state);
  });
}

}  // namespace popgate
