// A tiny blocking IMAP client for checking "the mailbox afterwards" and changing it behind popgate's back.
#include "tests/integration/support/imap_client.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace popgate::integration {
namespace {

std::string strip_crlf(std::string line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// The literal length announced at the end of a line ("... {123}"), or -1.
long trailing_literal(const std::string& line) {
  if (line.empty() || line.back() != '}') return -1;
  size_t open = line.rfind('{');
  if (open == std::string::npos) return -1;
  std::string digits = line.substr(open + 1, line.size() - open - 2);
  if (!digits.empty() && digits.back() == '+') digits.pop_back();
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::strtol(digits.c_str(), nullptr, 10);
}

}  // namespace

ImapClient::ImapClient(uint16_t port, std::chrono::milliseconds io_timeout) : socket_(port, io_timeout) {
  std::string greeting = strip_crlf(socket_.read_line_with_ending());
  if (greeting.rfind("* OK", 0) != 0) throw std::runtime_error("unexpected IMAP greeting: " + greeting);
}

ImapResult ImapClient::command(std::string_view command) {
  const std::string tag = "t" + std::to_string(next_tag_++);
  socket_.write_all(tag + " " + std::string(command) + "\r\n");
  ImapResult result;
  for (;;) {
    std::string line = strip_crlf(socket_.read_line_with_ending());
    for (long n = trailing_literal(line); n >= 0; n = trailing_literal(line)) {
      line += "\r\n" + socket_.read_exact(static_cast<size_t>(n));
      line += strip_crlf(socket_.read_line_with_ending());
    }
    if (line.rfind(tag + " ", 0) == 0) {
      result.tagged = line.substr(tag.size() + 1);
      return result;
    }
    result.untagged.push_back(std::move(line));
  }
}

ImapResult ImapClient::must(std::string_view cmd) {
  ImapResult r = command(cmd);
  if (!r.ok()) throw std::runtime_error("IMAP " + std::string(cmd) + " failed: " + r.tagged);
  return r;
}

void ImapClient::login(std::string_view user, std::string_view password) {
  must("LOGIN \"" + std::string(user) + "\" \"" + std::string(password) + "\"");
}

uint32_t ImapClient::select(std::string_view mailbox) {
  ImapResult r = must("SELECT \"" + std::string(mailbox) + "\"");
  uint32_t exists = 0;
  for (const auto& line : r.untagged) {
    unsigned long n = 0;
    // %n is only reached when " EXISTS" matched too: sscanf alone returns 1 for "* 0 RECENT" as well.
    int matched = 0;
    if (std::sscanf(line.c_str(), "* %lu EXISTS%n", &n, &matched) == 1 &&
        static_cast<size_t>(matched) == line.size()) {
      exists = static_cast<uint32_t>(n);
    }
    size_t at = line.find("[UIDVALIDITY ");
    if (at != std::string::npos)
      uid_validity_ = static_cast<uint32_t>(std::strtoul(line.c_str() + at + 13, nullptr, 10));
  }
  return exists;
}

std::vector<uint32_t> ImapClient::uid_search_all() {
  ImapResult r = must("UID SEARCH ALL");
  std::vector<uint32_t> uids;
  for (const auto& line : r.untagged) {
    if (line.rfind("* SEARCH", 0) != 0) continue;
    std::istringstream in(line.substr(8));
    uint32_t uid;
    while (in >> uid) uids.push_back(uid);
  }
  return uids;
}

std::string ImapClient::flags(uint32_t uid) {
  ImapResult r = must("UID FETCH " + std::to_string(uid) + " (FLAGS)");
  const std::string uid_item = "UID " + std::to_string(uid);
  for (const auto& line : r.untagged) {
    size_t at = line.find("FLAGS (");
    size_t item = line.find(uid_item);
    if (line.find(" FETCH ") == std::string::npos || at == std::string::npos || item == std::string::npos)
      continue;
    const char after = line[item + uid_item.size()];
    if (after != ' ' && after != ')') continue;
    size_t end = line.find(')', at);
    return line.substr(at + 7, end - at - 7);
  }
  throw std::runtime_error("no FLAGS for UID " + std::to_string(uid));
}

std::string ImapClient::body(uint32_t uid) {
  ImapResult r = must("UID FETCH " + std::to_string(uid) + " BODY.PEEK[]");
  for (const auto& line : r.untagged) {
    size_t at = line.find("BODY[] {");
    if (line.find(" FETCH ") == std::string::npos || at == std::string::npos) continue;
    char* end = nullptr;
    const unsigned long n = std::strtoul(line.c_str() + at + 8, &end, 10);
    const size_t start = static_cast<size_t>(end - line.c_str()) + 3;  // "}\r\n"
    return line.substr(start, n);
  }
  throw std::runtime_error("no BODY[] for UID " + std::to_string(uid));
}

std::vector<std::pair<uint32_t, uint64_t>> ImapClient::uids_and_sizes() {
  ImapResult r = must("UID FETCH 1:* (UID RFC822.SIZE)");
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (const auto& line : r.untagged) {
    unsigned long seq = 0;
    unsigned long uid = 0;
    unsigned long long size = 0;
    if (std::sscanf(line.c_str(), "* %lu FETCH (UID %lu RFC822.SIZE %llu)", &seq, &uid, &size) == 3) {
      out.emplace_back(static_cast<uint32_t>(uid), size);
    }
  }
  return out;
}

void ImapClient::expunge_uid(uint32_t uid) {
  must("UID STORE " + std::to_string(uid) + " +FLAGS.SILENT (\\Deleted)");
  must("UID EXPUNGE " + std::to_string(uid));
}

void ImapClient::create(std::string_view mailbox) {
  must("CREATE \"" + std::string(mailbox) + "\"");
}

void ImapClient::logout() {
  command("LOGOUT");
}

}  // namespace popgate::integration
