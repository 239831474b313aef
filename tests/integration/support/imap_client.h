// A tiny blocking IMAP client for checking "the mailbox afterwards" and changing it behind popgate's back.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/support/buffered_socket.h"

namespace popgate::integration {

struct ImapResult {
  std::vector<std::string> untagged;  // "* ..." lines without CRLF; literals inlined
  std::string tagged;                 // "OK ...", "NO ..." or "BAD ..." (the tag removed)
  bool ok() const { return tagged.rfind("OK", 0) == 0; }
};

class ImapClient {
 public:
  // Connects and reads the greeting; throws std::runtime_error on failure.
  explicit ImapClient(uint16_t port, std::chrono::milliseconds io_timeout = std::chrono::seconds(30));

  // Sends "<tag> <command>" and collects the response.
  ImapResult command(std::string_view command);
  // As command(), but throws if the tagged response is not OK.
  ImapResult must(std::string_view command);

  void login(std::string_view user, std::string_view password);
  // SELECT; returns the EXISTS count.
  uint32_t select(std::string_view mailbox);
  uint32_t uid_validity() const { return uid_validity_; }
  std::vector<uint32_t> uid_search_all();
  // The flag list of one message, e.g. "\Seen \Recent"; throws if the UID does not exist.
  std::string flags(uint32_t uid);
  // The whole message (UID FETCH uid BODY.PEEK[]); throws if the UID does not exist.
  std::string body(uint32_t uid);
  // (UID, RFC822.SIZE) of every message in sequence order.
  std::vector<std::pair<uint32_t, uint64_t>> uids_and_sizes();
  // UID STORE +FLAGS.SILENT (\Deleted) + UID EXPUNGE of one message.
  void expunge_uid(uint32_t uid);
  void create(std::string_view mailbox);
  void logout();

 private:
  BufferedSocket socket_;
  uint32_t next_tag_ = 1;
  uint32_t uid_validity_ = 0;
};

}  // namespace popgate::integration
