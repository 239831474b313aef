// The common GoogleTest fixture: a private Dovecot with users, a corpus in alice's INBOX, and popgate
// in front of it; on failure the tail of both logs is printed.
#include "tests/integration/support/mail_test.h"

#include <iostream>
#include <stdexcept>
#include <thread>

namespace popgate::integration {
namespace {

std::string tail(const std::string& text, size_t max = 4000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

std::unique_ptr<Pop3Client> login(uint16_t port, std::string_view user, std::string_view password) {
  auto client = std::make_unique<Pop3Client>(port);
  if (client->greeting().rfind("+OK", 0) != 0) throw std::runtime_error("greeting: " + client->greeting());
  const std::string reply = client->login(user, password);
  if (reply.rfind("+OK", 0) != 0) throw std::runtime_error("login refused: " + reply);
  return client;
}

}  // namespace

void MailTest::TearDown() {
  if (!HasFailure()) return;
  if (popgate_) std::cerr << "---- popgate stderr (tail) ----\n" << tail(popgate_->log_text()) << "\n";
  if (dovecot_) std::cerr << "---- dovecot log (tail) ----\n" << tail(dovecot_->log_text()) << "\n";
}

void MailTest::start_dovecot(std::vector<CorpusMessage> corpus, const std::vector<std::string>& mailboxes) {
  corpus_ = std::move(corpus);
  dovecot_ = std::make_unique<DovecotServer>();
  dovecot_->add_user(kUser, kPassword);
  dovecot_->add_user(kOtherUser, kOtherPassword);
  for (const auto& mailbox : mailboxes) dovecot_->create_mailbox(kUser, mailbox);
  dovecot_->deliver_all(kUser, corpus_);
  dovecot_->start();
}

void MailTest::start_popgate(std::vector<std::string> args, const PopgateOptions& options) {
  bool has_delay = false;
  for (const auto& a : args) has_delay = has_delay || a == "--auth-failure-delay";
  if (!has_delay) args.insert(args.end(), {"--auth-failure-delay", "0"});
  popgate_ = std::make_unique<PopgateProcess>(dovecot_->imap_port(), std::move(args), options);
}

std::unique_ptr<Pop3Client> MailTest::popgate_login(std::string_view user, std::string_view password) {
  return login(popgate_->port(), user, password);
}

std::unique_ptr<Pop3Client> MailTest::oracle_login(std::string_view user, std::string_view password) {
  return login(dovecot_->pop3_port(), user, password);
}

std::unique_ptr<ImapClient> MailTest::imap_select(std::string_view mailbox) {
  auto imap = std::make_unique<ImapClient>(dovecot_->imap_port());
  imap->login(kUser, kPassword);
  imap->select(mailbox);
  return imap;
}

std::vector<uint32_t> MailTest::imap_uids(std::string_view mailbox) {
  auto imap = imap_select(mailbox);
  auto uids = imap->uid_search_all();
  imap->logout();
  return uids;
}

Pop3Listing read_listing(Pop3Client& client) {
  Pop3Listing listing;
  listing.stat = client.command("STAT");
  Pop3Response list = client.multiline("LIST");
  Pop3Response uidl = client.multiline("UIDL");
  listing.list = list.status.substr(0, 3) + "|" + list.body;
  listing.uidl = uidl.status.substr(0, 3) + "|" + uidl.body;
  return listing;
}

std::string login_when_free(uint16_t port, std::string_view user, std::string_view password,
                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    Pop3Client client(port);
    std::string reply = client.login(user, password);
    const bool in_use = reply.find("[IN-USE]") != std::string::npos;
    if (!in_use || std::chrono::steady_clock::now() >= deadline) {
      if (reply.rfind("+OK", 0) == 0) {
        const std::string quit = client.command("QUIT");
        if (quit.rfind("+OK", 0) != 0) throw std::runtime_error("QUIT answered " + quit);
      }
      return reply;
    }
    client.command("QUIT");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace popgate::integration
