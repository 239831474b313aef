// JmapMailbox: the Mailbox over JMAP (RFC 8620/8621), JSON over HTTP(S) on the loop.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapters/jmap/jmap_protocol.h"
#include "adapters/mailbox_base.h"
#include "gateway/io/http_connection.h"

namespace popgate {

struct JmapSettings {
  io::HttpUrl session_url;                            // e.g. http://127.0.0.1:8008/.well-known/jmap
  std::shared_ptr<io::TlsClientContext> tls_context;  // for https
  uint64_t page_limit = 1000;  // emails per listing round trip, below the server's maxObjectsInGet
  MailboxPolicy policy;
};

class JmapMailbox final : public MailboxBase {
 public:
  JmapMailbox(io::Loop& loop, const JmapSettings& settings);
  ~JmapMailbox() override;

  void open(Credentials credentials, OpenDone done) override;
  void fetch(const MessageInfo& message, FetchKind kind, BodySink& sink, Done done) override;
  void pause_body() override;
  void resume_body() override;
  void commit(std::vector<MessageInfo> deleted, Done done) override;
  std::string_view kind() const override { return "jmap"; }
  bool can_park() const override;
  void reopen(OpenDone done) override;

 private:
  class Download;
  struct CommitState;
  using BodyDone = std::function<void(Result<std::string>)>;

  void get_session(io::HttpUrl url, int redirects_left);
  void on_session(const io::HttpUrl& session_url, std::string_view body);
  void list_mailboxes();
  void list_page(uint64_t position);
  void forget_login_secrets(bool opened) override;
  void download(const io::HttpUrl& url, BodySink& sink, Done done);
  void api_call(std::string body, BodyDone done);
  void commit_batch(std::shared_ptr<CommitState> state);

  io::HttpConnection& http_for(const io::HttpUrl& url);
  io::HttpRequest authorized(std::string method, std::string target) const;

  JmapSettings settings_;
  std::map<std::string, std::unique_ptr<io::HttpConnection>> connections_;  // by origin
  SecretString authorization_;                                              // "Basic ..." header value
  std::string user_;
  jmap::Session session_;
  io::HttpUrl api_url_;
  std::string download_template_;  // absolute
  std::string mailbox_id_;
  std::string move_target_id_;
  std::vector<jmap::EmailEntry> emails_;
  std::unordered_map<std::string, std::string> blob_ids_;  // email id -> blob id
  std::unique_ptr<Download> download_;
  io::HttpConnection* streaming_ = nullptr;  // the connection a download uses, for pause/resume
};

using JmapMailboxFactory = AdapterMailboxFactory<JmapMailbox, JmapSettings>;

}  // namespace popgate
