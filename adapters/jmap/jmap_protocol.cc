// JMAP request bodies and reply interpretation (RFC 8620, RFC 8621).
#include "adapters/jmap/jmap_protocol.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "protocol/common/ascii.h"

namespace popgate::jmap {
namespace {

using nlohmann::json;

Error protocol_error(std::string detail) {
  return make_error(ErrorKind::Protocol, std::move(detail));
}

std::optional<json> parse_json(std::string_view body) {
  json value = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

json request(json method_calls) {
  return json{{"using", {kCoreCapability, kMailCapability}}, {"methodCalls", std::move(method_calls)}};
}

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_member(const json& object, std::string_view key) {
  const json* value = member(object, key);
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

// The arguments of the response to call `call_id`, or why there is none. A method-level
// error (RFC 8620 §3.6.2) names its type, e.g. "unknownMethod" or "serverFail".
Result<json> method_response(std::string_view body, std::string_view name, std::string_view call_id) {
  auto root = parse_json(body);
  if (!root) return protocol_error("reply is not JSON");
  const json* responses = member(*root, "methodResponses");
  if (!responses || !responses->is_array()) return protocol_error("reply has no methodResponses");
  for (const auto& invocation : *responses) {
    if (!invocation.is_array() || invocation.size() != 3 || !invocation[0].is_string() ||
        !invocation[2].is_string() || invocation[2].get<std::string>() != call_id) {
      continue;
    }
    const std::string response_name = invocation[0].get<std::string>();
    if (response_name == "error") {
      std::string type = string_member(invocation[1], "type");
      ErrorKind kind = type == "serverFail" || type == "serverUnavailable" || type == "serverPartialFail"
                           ? ErrorKind::Temporary
                           : ErrorKind::Protocol;
      return make_error(kind, std::string(name) + " failed: " + (type.empty() ? "error" : type));
    }
    if (response_name != name || !invocation[1].is_object()) {
      return protocol_error("expected " + std::string(name) + ", got " + response_name);
    }
    return invocation[1];
  }
  return protocol_error("no response to " + std::string(name));
}

uint64_t limit_of(const json& core, std::string_view key, uint64_t fallback) {
  const json* value = member(core, key);
  if (!value || !value->is_number_unsigned() || value->get<uint64_t>() == 0) return fallback;
  return value->get<uint64_t>();
}

std::string percent_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

std::string set_request(std::string_view account_id, std::string_view verb, json argument) {
  return request(json::array({json::array(
                     {"Email/set", {{"accountId", account_id}, {verb, std::move(argument)}}, "0"})}))
      .dump();
}

}  // namespace

Result<Session> parse_session(std::string_view body) {
  auto root = parse_json(body);
  if (!root || !root->is_object()) return protocol_error("session resource is not a JSON object");
  const json* capabilities = member(*root, "capabilities");
  if (!capabilities || !capabilities->is_object())
    return protocol_error("session resource has no capabilities");
  if (!member(*capabilities, kMailCapability)) {
    return make_error(ErrorKind::Permanent, "the JMAP server does not offer urn:ietf:params:jmap:mail");
  }
  Session session;
  session.api_url = string_member(*root, "apiUrl");
  session.download_url = string_member(*root, "downloadUrl");
  if (const json* primary = member(*root, "primaryAccounts"))
    session.account_id = string_member(*primary, kMailCapability);
  if (session.api_url.empty() || session.download_url.empty() || session.account_id.empty()) {
    return protocol_error("session resource lacks apiUrl, downloadUrl or a primary mail account");
  }
  if (const json* core = member(*capabilities, kCoreCapability)) {
    session.max_objects_in_get = limit_of(*core, "maxObjectsInGet", session.max_objects_in_get);
    session.max_objects_in_set = limit_of(*core, "maxObjectsInSet", session.max_objects_in_set);
    session.max_calls_in_request = limit_of(*core, "maxCallsInRequest", session.max_calls_in_request);
  }
  return session;
}

std::string expand_download_url(std::string_view url_template, std::string_view account_id,
                                std::string_view blob_id, std::string_view type, std::string_view name) {
  std::string url(url_template);
  replace_all(url, "{accountId}", percent_encode(account_id));
  replace_all(url, "{blobId}", percent_encode(blob_id));
  replace_all(url, "{type}", percent_encode(type));
  replace_all(url, "{name}", percent_encode(name));
  return url;
}

std::string mailbox_get_request(std::string_view account_id) {
  return request(
             json::array({json::array(
                 {"Mailbox/get", {{"accountId", account_id}, {"properties", {"id", "name", "role"}}}, "0"})}))
      .dump();
}

Result<std::vector<MailboxEntry>> parse_mailbox_get(std::string_view body) {
  auto arguments = method_response(body, "Mailbox/get", "0");
  if (!arguments) return arguments.error();
  const json* list = member(arguments.value(), "list");
  if (!list || !list->is_array()) return protocol_error("Mailbox/get has no list");
  std::vector<MailboxEntry> mailboxes;
  for (const auto& entry : *list) {
    MailboxEntry mailbox{string_member(entry, "id"), string_member(entry, "name"),
                         string_member(entry, "role")};
    if (!mailbox.id.empty()) mailboxes.push_back(std::move(mailbox));
  }
  return mailboxes;
}

std::optional<MailboxEntry> find_mailbox(const std::vector<MailboxEntry>& mailboxes, std::string_view name) {
  const std::string upper = ascii::upper(name);
  for (const auto& mailbox : mailboxes) {
    if (upper == "INBOX" ? mailbox.role == "inbox" : mailbox.name == name) return mailbox;
  }
  return std::nullopt;
}

std::string email_page_request(std::string_view account_id, std::string_view mailbox_id, uint64_t position,
                               uint64_t limit) {
  json query = {{"accountId", account_id},
                {"filter", {{"inMailbox", mailbox_id}}},
                {"sort", json::array({{{"property", "receivedAt"}, {"isAscending", true}}})},
                {"position", position},
                {"limit", limit},
                {"calculateTotal", true}};
  // RFC 8620 §3.7: the ids flow from the query into the get without a round trip.
  json get = {{"accountId", account_id},
              {"#ids", {{"resultOf", "q"}, {"name", "Email/query"}, {"path", "/ids"}}},
              {"properties", {"id", "size", "blobId", "receivedAt"}}};
  return request(json::array({json::array({"Email/query", std::move(query), "q"}),
                              json::array({"Email/get", std::move(get), "g"})}))
      .dump();
}

Result<EmailPage> parse_email_page(std::string_view body) {
  auto query = method_response(body, "Email/query", "q");
  if (!query) return query.error();
  auto get = method_response(body, "Email/get", "g");
  if (!get) return get.error();
  EmailPage page;
  const json* ids = member(query.value(), "ids");
  const json* total = member(query.value(), "total");
  if (!ids || !ids->is_array()) return protocol_error("Email/query has no ids");
  page.ids_in_page = ids->size();
  page.total = total && total->is_number_unsigned() ? total->get<uint64_t>() : ids->size();
  const json* list = member(get.value(), "list");
  if (!list || !list->is_array()) return protocol_error("Email/get has no list");
  for (const auto& entry : *list) {
    const json* size = member(entry, "size");
    EmailEntry email{string_member(entry, "id"), string_member(entry, "blobId"),
                     size && size->is_number_unsigned() ? size->get<uint64_t>() : 0,
                     string_member(entry, "receivedAt")};
    if (email.id.empty() || email.blob_id.empty() || !size)
      return protocol_error("Email/get entry lacks id, blobId or size");
    page.emails.push_back(std::move(email));
  }
  return page;
}

std::string email_exists_request(std::string_view account_id, std::string_view id) {
  return request(
             json::array({json::array(
                 {"Email/get", {{"accountId", account_id}, {"ids", {id}}, {"properties", {"id"}}}, "0"})}))
      .dump();
}

Result<bool> parse_email_exists(std::string_view body, std::string_view id) {
  auto arguments = method_response(body, "Email/get", "0");
  if (!arguments) return arguments.error();
  if (const json* list = member(arguments.value(), "list"); list && list->is_array()) {
    for (const auto& entry : *list) {
      if (string_member(entry, "id") == id) return true;
    }
  }
  return false;
}

void sort_for_pop3(std::vector<EmailEntry>& emails) {
  // receivedAt has one-second resolution on Cyrus: ties are common and need the id.
  std::stable_sort(emails.begin(), emails.end(), [](const EmailEntry& a, const EmailEntry& b) {
    return a.received_at != b.received_at ? a.received_at < b.received_at : a.id < b.id;
  });
}

std::string uidl_for_email_id(std::string_view id) {
  bool fits = !id.empty() && id.size() <= 70 &&
              std::all_of(id.begin(), id.end(), [](unsigned char c) { return c >= 0x21 && c <= 0x7e; });
  if (fits) return std::string(id);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(id.data()), id.size(), digest);
  std::string uidl = "h";  // a recognisable form for mapped ids
  char hex[3];
  for (uint8_t byte : digest) {
    std::snprintf(hex, sizeof hex, "%02x", byte);
    uidl += hex;
  }
  return uidl;
}

std::string destroy_request(std::string_view account_id, const std::vector<std::string>& ids) {
  return set_request(account_id, "destroy", ids);
}

std::string set_seen_request(std::string_view account_id, const std::vector<std::string>& ids) {
  json update = json::object();
  for (const auto& id : ids) update[id] = {{"keywords/$seen", true}};
  return set_request(account_id, "update", std::move(update));
}

std::string move_request(std::string_view account_id, const std::vector<std::string>& ids,
                         std::string_view from_mailbox_id, std::string_view to_mailbox_id) {
  json update = json::object();
  for (const auto& id : ids) {
    update[id] = {{"mailboxIds/" + std::string(from_mailbox_id), nullptr},
                  {"mailboxIds/" + std::string(to_mailbox_id), true}};
  }
  return set_request(account_id, "update", std::move(update));
}

Result<SetOutcome> parse_set_response(std::string_view body, const std::vector<std::string>& requested) {
  auto arguments = method_response(body, "Email/set", "0");
  if (!arguments) return arguments.error();
  const json& result = arguments.value();
  SetOutcome outcome;
  auto succeeded = [&](const std::string& id) {
    if (const json* destroyed = member(result, "destroyed"); destroyed && destroyed->is_array()) {
      for (const auto& entry : *destroyed) {
        if (entry.is_string() && entry.get<std::string>() == id) return true;
      }
    }
    const json* updated = member(result, "updated");
    return updated && member(*updated, id) != nullptr;
  };
  auto failure = [&](const std::string& id) -> std::optional<std::string> {
    for (std::string_view key : {"notDestroyed", "notUpdated"}) {
      if (const json* failed = member(result, key)) {
        if (const json* error = member(*failed, id)) {
          std::string type = string_member(*error, "type");
          return type.empty() ? std::string("error") : type;
        }
      }
    }
    return std::nullopt;
  };
  for (const auto& id : requested) {
    if (succeeded(id)) {
      outcome.done.push_back(id);
    } else if (auto type = failure(id); type && *type == "notFound") {
      outcome.done.push_back(id);
    } else {
      outcome.failed.emplace_back(id, type ? *type : "not reported");
    }
  }
  return outcome;
}

}  // namespace popgate::jmap
