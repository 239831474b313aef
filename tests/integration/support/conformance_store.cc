// The mail store behind popgate in the conformance suite: Dovecot (IMAP) or Cyrus (JMAP), with the same
// account, the same corpus and an independent view of the mailbox for checking it afterwards.
#include "tests/integration/support/conformance_store.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>

#include "tests/integration/support/cyrus_server.h"
#include "tests/integration/support/dovecot_server.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

using nlohmann::json;

class DovecotStore final : public MailStore {
 public:
  void start(const std::vector<CorpusMessage>& corpus, bool with_trash) override {
    server_.add_user(kUser, kPassword);
    if (with_trash) server_.create_mailbox(kUser, "Trash");
    server_.deliver_all(kUser, corpus);
    server_.start();
  }

  std::string upstream_url() const override {
    return "imap://127.0.0.1:" + std::to_string(server_.imap_port());
  }
  uint16_t oracle_pop3_port() const override { return server_.pop3_port(); }

  std::vector<StoredMessage> messages(std::string_view mailbox) override {
    auto imap = imap_select(mailbox);
    std::vector<StoredMessage> out;
    for (const auto& [uid, size] : imap->uids_and_sizes()) {
      // Dovecot's pop3_uidl_format %08Xu%08Xv, which popgate copies.
      char uidl[17];
      std::snprintf(uidl, sizeof uidl, "%08x%08x", uid, imap->uid_validity());
      out.push_back({uid, size, uidl});
    }
    imap->logout();
    return out;
  }

  std::optional<std::vector<std::string>> jmap_email_ids(std::string_view) override { return std::nullopt; }

  void remove_as_other_client(const StoredMessage& message) override {
    auto imap = imap_select("INBOX");
    imap->expunge_uid(message.uid);
    imap->logout();
  }

  std::string log_text() const override { return server_.log_text(); }

 protected:
  std::unique_ptr<ImapClient> imap_login() override {
    auto imap = std::make_unique<ImapClient>(server_.imap_port());
    imap->login(kUser, kPassword);
    return imap;
  }

 private:
  DovecotServer server_;
};

class CyrusStore final : public MailStore {
 public:
  void start(const std::vector<CorpusMessage>& corpus, bool with_trash) override {
    server_.add_user(kUser, kPassword);
    server_.start();
    if (with_trash) server_.create_mailbox(kUser, "Trash", "\\Trash");
    // Each APPEND gets an internal date (JMAP receivedAt) one second after the previous one.
    server_.deliver_all(kUser, corpus);
  }

  std::string upstream_url() const override {
    return "jmap://127.0.0.1:" + std::to_string(server_.http_port());
  }

  std::vector<StoredMessage> messages(std::string_view mailbox) override {
    // The EXISTS check first; CyrusServer::messages() is the one that reads EMAILID.
    imap_select(mailbox)->logout();
    std::vector<StoredMessage> out;
    for (const auto& m : server_.messages(kUser, mailbox)) out.push_back({m.uid, m.size, m.email_id});
    return out;
  }

  std::optional<std::vector<std::string>> jmap_email_ids(std::string_view mailbox) override {
    JmapClient jmap = server_.jmap(kUser);
    json mailboxes = jmap.call_one("Mailbox/get", {{"ids", nullptr}, {"properties", {"id", "name", "role"}}});
    std::string id;
    for (const auto& m : mailboxes.at("list")) {
      const bool inbox = mailbox == "INBOX" && m.at("role").is_string() && m.at("role") == "inbox";
      if (inbox || m.at("name") == mailbox) id = m.at("id");
    }
    if (id.empty()) throw std::runtime_error("JMAP: no mailbox " + std::string(mailbox));
    json query = jmap.call_one(
        "Email/query", {{"filter", {{"inMailbox", id}}},
                        {"sort", json::array({{{"property", "receivedAt"}, {"isAscending", true}}})}});
    return query.at("ids").get<std::vector<std::string>>();
  }

  void remove_as_other_client(const StoredMessage& message) override {
    json reply = server_.jmap(kUser).call_one("Email/set", {{"destroy", json::array({message.pop3_uidl})}});
    if (reply.at("destroyed") != json::array({message.pop3_uidl})) {
      throw std::runtime_error("Email/set destroy: " + reply.dump());
    }
  }

  std::string log_text() const override { return server_.log_text(); }

 protected:
  std::unique_ptr<ImapClient> imap_login() override { return server_.imap_login(kUser); }

 private:
  CyrusServer server_;
};

}  // namespace

std::string upstream_name(Upstream upstream) {
  return upstream == Upstream::Imap ? "Imap" : "Jmap";
}

void PrintTo(Upstream upstream, std::ostream* out) {
  *out << upstream_name(upstream);
}

std::unique_ptr<MailStore> MailStore::create(Upstream upstream) {
  if (upstream == Upstream::Imap) return std::make_unique<DovecotStore>();
  return std::make_unique<CyrusStore>();
}

std::unique_ptr<ImapClient> MailStore::imap_select(std::string_view mailbox) {
  auto imap = imap_login();
  const uint32_t exists = imap->select(mailbox);
  const size_t uids = imap->uid_search_all().size();
  if (uids != exists) {
    throw std::runtime_error("SELECT " + std::string(mailbox) + " said " + std::to_string(exists) +
                             " EXISTS but UID SEARCH ALL found " + std::to_string(uids));
  }
  return imap;
}

std::vector<std::string> MailStore::bodies(std::string_view mailbox) {
  auto imap = imap_select(mailbox);
  std::vector<std::string> out;
  for (uint32_t uid : imap->uid_search_all()) out.push_back(imap->body(uid));
  imap->logout();
  return out;
}

}  // namespace popgate::integration
