// What parsed IMAP responses mean: codes, announced capabilities and mailbox facts, FETCH items.
#include "protocol/imap/imap_response_interpreter.h"

#include <charconv>

#include "protocol/common/ascii.h"

namespace popgate::imap {

using ascii::iequals;
using ascii::istarts_with;
using ascii::lower;
using ascii::upper;

namespace {

// Response codes are compared by prefix, as sent ("NONEXISTENT" and "NONEXISTENT foo" alike).
bool has_code(const Response& response, std::string_view name) {
  return istarts_with(response.code, name);
}

}  // namespace

std::optional<uint32_t> parse_number(std::string_view text) {
  uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<uint32_t> code_number(std::string_view code, std::string_view name) {
  if (!istarts_with(code, name) || code.size() <= name.size() + 1 || code[name.size()] != ' ')
    return std::nullopt;
  std::string_view rest = code.substr(name.size() + 1);
  return parse_number(rest.substr(0, rest.find(' ')));
}

std::optional<std::vector<std::string>> announced_capabilities(const Response& response) {
  std::vector<std::string> capabilities;
  if (response.name == "CAPABILITY") {
    for (const auto& value : response.values) {
      if (value.kind == ValueKind::Atom) capabilities.push_back(upper(value.text));
    }
    return capabilities;
  }
  if (!response.status || !istarts_with(response.code, "CAPABILITY ")) return std::nullopt;
  std::string_view list = std::string_view(response.code).substr(11);
  while (!list.empty()) {
    auto space = list.find(' ');
    if (space != 0) capabilities.push_back(upper(list.substr(0, space)));
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return capabilities;
}

std::optional<uint64_t> announced_exists(const Response& response) {
  if (response.name != "EXISTS") return std::nullopt;
  return response.number;
}

std::optional<uint32_t> announced_uidvalidity(const Response& response) {
  if (!response.status) return std::nullopt;
  return code_number(response.code, "UIDVALIDITY");
}

const Value* fetch_item(const Response& response, std::string_view name) {
  if (response.values.empty() || response.values[0].kind != ValueKind::List) return nullptr;
  const auto& items = response.values[0].list;
  bool prefix = !name.empty() && name.back() == '[';
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].kind != ValueKind::Atom) continue;
    if (prefix ? istarts_with(items[i].text, name) : iequals(items[i].text, name)) return &items[i + 1];
  }
  return nullptr;
}

std::optional<UidAndSize> fetch_uid_and_size(const Response& response) {
  const Value* uid = fetch_item(response, "UID");
  const Value* size = fetch_item(response, "RFC822.SIZE");
  if (!uid || !size || uid->kind != ValueKind::Number || size->kind != ValueKind::Number) return std::nullopt;
  if (uid->number == 0 || uid->number > UINT32_MAX) return std::nullopt;
  return UidAndSize{static_cast<uint32_t>(uid->number), size->number};
}

std::vector<uint32_t> search_uids(const Response& response) {
  std::vector<uint32_t> uids;
  for (const auto& value : response.values) {
    if (value.kind == ValueKind::Number && value.number <= UINT32_MAX) {
      uids.push_back(static_cast<uint32_t>(value.number));
    }
  }
  return uids;
}

bool is_throttling(const Response& response) {
  for (std::string_view code : {"UNAVAILABLE", "LIMIT", "THROTTLED"}) {
    if (has_code(response, code)) return true;
  }
  const std::string text = lower(response.text);
  for (std::string_view phrase : {"server unavailable", "throttl", "too many"}) {
    if (text.find(phrase) != std::string::npos) return true;
  }
  return false;
}

bool is_transient(const Response& response) {
  if (is_throttling(response)) return true;
  for (std::string_view code : {"UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE", "OVERQUOTA"}) {
    if (has_code(response, code)) return true;
  }
  return false;
}

bool is_nonexistent(const Response& response) {
  return has_code(response, "NONEXISTENT");
}

bool is_message_gone(const Response& response) {
  return has_code(response, "EXPUNGEISSUED") || is_nonexistent(response);
}

}  // namespace popgate::imap
