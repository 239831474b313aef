// The POP3 conformance suite's fixture: one test body, run against popgate in front of Dovecot (IMAP
// adapter) and in front of Cyrus (JMAP adapter), so the two adapters cannot drift apart.
#include "tests/integration/support/conformance_test.h"

#include <algorithm>
#include <iostream>
#include <stdexcept>

#include "tests/integration/support/byte_compare.h"
#include "tests/integration/support/mail_test.h"

namespace popgate::integration {
namespace {

constexpr size_t kLargeSize = 5 * 1024 * 1024;
constexpr size_t kSmallCount = 50;

std::string with_crlf(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 16);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) out += '\r';
    out += bytes[i];
  }
  return out;
}

std::string tail(const std::string& text, size_t max = 4000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

}  // namespace

std::vector<CorpusMessage> conformance_corpus() {
  std::vector<CorpusMessage> corpus = make_corpus({.large_size = kLargeSize, .small_count = kSmallCount});
  for (auto& m : corpus) m.bytes = with_crlf(m.bytes);
  return corpus;
}

std::vector<CorpusMessage> small_conformance_corpus(size_t count) {
  return make_small_corpus(count);
}

std::string expected_retr(std::string_view message) {
  std::string out(message);
  if (!out.ends_with("\r\n")) out += "\r\n";
  return out;
}

std::string expected_top(std::string_view message, size_t lines) {
  const size_t blank = message.starts_with("\r\n") ? 0 : message.find("\r\n\r\n");
  if (blank == std::string_view::npos) return expected_retr(message);  // all header
  size_t at = blank == 0 ? 2 : blank + 4;
  std::string out(message.substr(0, at));
  for (size_t n = 0; n < lines && at < message.size(); ++n) {
    const size_t eol = message.find("\r\n", at);
    if (eol == std::string_view::npos) {
      out += message.substr(at);
      out += "\r\n";
      break;
    }
    out += message.substr(at, eol + 2 - at);
    at = eol + 2;
  }
  return out;
}

std::string expected_list(const std::vector<StoredMessage>& messages) {
  std::string out;
  for (size_t n = 1; n <= messages.size(); ++n) {
    out += std::to_string(n) + " " + std::to_string(messages[n - 1].size) + "\r\n";
  }
  return out;
}

std::string expected_uidl(const std::vector<StoredMessage>& messages) {
  std::string out;
  for (size_t n = 1; n <= messages.size(); ++n)
    out += std::to_string(n) + " " + messages[n - 1].pop3_uidl + "\r\n";
  return out;
}

void ConformanceTest::TearDown() {
  if (!HasFailure()) return;
  if (popgate_) std::cerr << "---- popgate stderr (tail) ----\n" << tail(popgate_->log_text()) << "\n";
  if (store_) std::cerr << "---- upstream log (tail) ----\n" << tail(store_->log_text()) << "\n";
}

void ConformanceTest::start_store(std::vector<CorpusMessage> corpus, bool with_trash) {
  corpus_ = std::move(corpus);
  store_ = MailStore::create(upstream());
  store_->start(corpus_, with_trash);
  delivered_ = store_->messages();
  // The fixture's own premise: the store holds the corpus, byte for byte, in delivery order.
  ASSERT_EQ(delivered_.size(), corpus_.size());
  const std::vector<std::string> stored = store_->bodies();
  ASSERT_EQ(stored.size(), corpus_.size());
  for (size_t i = 0; i < corpus_.size(); ++i) {
    ASSERT_EQ(delivered_[i].size, corpus_[i].bytes.size()) << corpus_[i].label;
    ASSERT_TRUE(same_bytes(corpus_[i].bytes, stored[i])) << corpus_[i].label << " is stored differently";
  }
}

void ConformanceTest::start_popgate(std::vector<std::string> args) {
  args.insert(args.begin(), {"--auth-failure-delay", "0"});
  popgate_ = std::make_unique<PopgateProcess>(0, std::move(args),
                                              PopgateOptions{.upstream = store_->upstream_url()});
}

std::unique_ptr<Pop3Client> ConformanceTest::login() {
  auto client = std::make_unique<Pop3Client>(popgate_->port());
  EXPECT_EQ(client->greeting().substr(0, 3), "+OK") << client->greeting();
  const std::string reply = client->login(kUser, kPassword);
  if (reply.rfind("+OK", 0) != 0) throw std::runtime_error("popgate refused the login: " + reply);
  return client;
}

std::unique_ptr<Pop3Client> ConformanceTest::oracle_login() {
  if (store_->oracle_pop3_port() == 0) throw std::logic_error("no POP3 oracle for this upstream");
  auto client = std::make_unique<Pop3Client>(store_->oracle_pop3_port());
  const std::string reply = client->login(kUser, kPassword);
  if (reply.rfind("+OK", 0) != 0) throw std::runtime_error("Dovecot's POP3 refused the login: " + reply);
  return client;
}

std::vector<std::string> ConformanceTest::stored_uidls(std::string_view mailbox) {
  std::vector<std::string> uidls;
  for (const auto& m : store_->messages(mailbox)) uidls.push_back(m.pop3_uidl);
  if (auto jmap = store_->jmap_email_ids(mailbox)) {
    std::vector<std::string> over_imap = uidls;
    std::sort(over_imap.begin(), over_imap.end());
    std::sort(jmap->begin(), jmap->end());
    EXPECT_EQ(over_imap, *jmap) << "IMAP and JMAP disagree about " << mailbox;
  }
  return uidls;
}

std::vector<std::string> ConformanceTest::delivered_uidls_without(
    std::initializer_list<size_t> message_numbers) const {
  std::vector<std::string> out;
  for (size_t n = 1; n <= delivered_.size(); ++n) {
    if (std::find(message_numbers.begin(), message_numbers.end(), n) == message_numbers.end()) {
      out.push_back(delivered_[n - 1].pop3_uidl);
    }
  }
  return out;
}

void ConformanceTest::quit(Pop3Client& client) {
  EXPECT_EQ(client.command("QUIT").substr(0, 3), "+OK");
  EXPECT_TRUE(client.wait_for_close(std::chrono::seconds(10))) << "popgate did not close after QUIT";
}

}  // namespace popgate::integration
