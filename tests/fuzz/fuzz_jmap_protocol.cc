// fuzz_jmap_protocol: every reply interpreter of adapters/jmap/jmap_protocol.h on any body, and the
// request builders on what those replies yield, as JmapMailbox chains them. Nothing may throw out
// or crash; results keep their promises: a session has URLs, an account and non-zero limits (and
// its URLs resolve as JmapMailbox resolves them), INBOX in any case finds the inbox role and any
// other name that very name, UIDLs obey RFC 1939, Email/set outcomes account for every requested
// id exactly once and in order, and every request built is a JSON object. Retry-After values (any
// octets) stay under the cap.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/jmap/jmap_protocol.h"
#include "adapters/jmap/retry_after.h"
#include "gateway/io/http_connection.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

using nlohmann::json;

constexpr size_t kMaxStrings = 16;
const char* const kSessionUrl = "http://127.0.0.1:8080/.well-known/jmap";

void check_request(const std::string& body) {
  const json request = json::parse(body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(request.is_object() && request.contains("using") && request.contains("methodCalls"));
}

// RFC 1939 §7: 1 to 70 characters from 0x21 to 0x7E; an id that already qualifies is kept.
void check_uidl(std::string_view id) {
  const std::string uidl = jmap::uidl_for_email_id(id);
  FUZZ_CHECK(!uidl.empty() && uidl.size() <= 70);
  for (const char c : uidl) FUZZ_CHECK(c >= 0x21 && c <= 0x7e);
  bool qualifies = !id.empty() && id.size() <= 70;
  for (const char c : id) qualifies = qualifies && c >= 0x21 && c <= 0x7e;
  if (qualifies) FUZZ_CHECK(uidl == id);
  FUZZ_CHECK(jmap::uidl_for_email_id(id) == uidl);  // stable across sessions
}

// A URL printed and parsed again is the same URL: JmapMailbox keeps the download template as text.
void check_round_trip(const io::HttpUrl& url) {
  const std::optional<io::HttpUrl> again = io::HttpUrl::parse(url.to_string());
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->tls == url.tls && again->host == url.host && again->port == url.port &&
             again->target == url.target);
}

// A Retry-After field value (adapters/jmap/retry_after.h): never more than the cap, and an
// HTTP-date asks for no wait at its own instant.
void check_retry_after(std::string_view value) {
  for (const int64_t now : {int64_t{0}, int64_t{1'800'000'000}}) {
    const std::optional<uint64_t> wait = http::parse_retry_after_ms(value, now);
    if (wait) FUZZ_CHECK(*wait <= http::kMaxRetryAfterMs);
  }
  if (const std::optional<int64_t> date = http::parse_http_date(value)) {
    FUZZ_CHECK(http::parse_retry_after_ms(value, *date) == uint64_t{0});  // "now" is no wait
  }
}

// Up to kMaxStrings strings from anywhere in the body: candidate ids, as the server would echo them.
void collect_strings(const json& value, std::vector<std::string>& out) {
  if (out.size() >= kMaxStrings) return;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (out.size() < kMaxStrings) out.push_back(key);
      collect_strings(item, out);
    }
  } else if (value.is_array()) {
    for (const auto& item : value) collect_strings(item, out);
  }
}

void check_session(std::string_view body) {
  const Result<jmap::Session> session = jmap::parse_session(body);
  if (!session) return;
  const jmap::Session& s = session.value();
  FUZZ_CHECK(!s.api_url.empty() && !s.download_url.empty() && !s.account_id.empty());
  FUZZ_CHECK(s.max_objects_in_get > 0 && s.max_objects_in_set > 0 && s.max_calls_in_request > 0);
  check_request(jmap::mailbox_get_request(s.account_id));
  // As JmapMailbox::on_session and fetch do.
  const io::HttpUrl base = *io::HttpUrl::parse(kSessionUrl);
  if (const auto api = base.resolve(s.api_url)) check_round_trip(*api);
  if (const auto download = base.resolve(s.download_url)) {
    check_round_trip(*download);
    const std::string expanded = jmap::expand_download_url(download->to_string(), s.account_id,
                                                           "Gblob{blobId}", "message/rfc822", "message.eml");
    if (const auto url = io::HttpUrl::parse(expanded)) check_round_trip(*url);
  }
}

// "INBOX" in any case: RFC 3501 §5.1 makes the name case-insensitive, and so does find_mailbox.
bool is_inbox(std::string_view name) {
  if (name.size() != 5) return false;
  for (size_t i = 0; i < 5; ++i) {
    const char c = name[i] >= 'a' && name[i] <= 'z' ? static_cast<char>(name[i] - 'a' + 'A') : name[i];
    if (c != "INBOX"[i]) return false;
  }
  return true;
}

void check_mailboxes(std::string_view body, const std::vector<std::string>& strings) {
  const Result<std::vector<jmap::MailboxEntry>> mailboxes = jmap::parse_mailbox_get(body);
  if (!mailboxes) return;
  for (const jmap::MailboxEntry& mailbox : mailboxes.value()) FUZZ_CHECK(!mailbox.id.empty());
  std::vector<std::string> names = {"INBOX", "inbox", "Inbox"};
  names.insert(names.end(), strings.begin(), strings.end());
  for (const std::string& name : names) {
    // INBOX is the inbox role, whatever its name; every other name matches exactly.
    auto matches = [&](const jmap::MailboxEntry& mailbox) {
      return is_inbox(name) ? mailbox.role == "inbox" : mailbox.name == name;
    };
    const std::optional<jmap::MailboxEntry> found = jmap::find_mailbox(mailboxes.value(), name);
    if (!found) {
      for (const jmap::MailboxEntry& mailbox : mailboxes.value()) FUZZ_CHECK(!matches(mailbox));
      continue;
    }
    FUZZ_CHECK(matches(*found));
    check_request(jmap::email_page_request("account", found->id, 0, 50));
  }
}

void check_page(std::string_view body) {
  Result<jmap::EmailPage> page = jmap::parse_email_page(body);
  if (!page) return;
  std::vector<jmap::EmailEntry>& emails = page.value().emails;
  std::vector<std::string> ids;
  for (const jmap::EmailEntry& email : emails) {
    FUZZ_CHECK(!email.id.empty() && !email.blob_id.empty());
    ids.push_back(email.id);
  }
  const size_t count = emails.size();
  jmap::sort_for_pop3(emails);
  FUZZ_CHECK(emails.size() == count);
  for (size_t i = 1; i < emails.size(); ++i) {
    const jmap::EmailEntry& a = emails[i - 1];
    const jmap::EmailEntry& b = emails[i];
    FUZZ_CHECK(a.received_at < b.received_at || (a.received_at == b.received_at && a.id <= b.id));
  }
  for (const jmap::EmailEntry& email : emails) {
    check_uidl(email.id);
    check_request(jmap::email_exists_request("account", email.id));
  }
  check_request(jmap::destroy_request("account", ids));
  check_request(jmap::set_seen_request("account", ids));
  check_request(jmap::move_request("account", ids, "from", "to"));
}

void check_set_outcome(std::string_view body, const std::vector<std::string>& requested) {
  const Result<jmap::SetOutcome> outcome = jmap::parse_set_response(body, requested);
  if (!outcome) return;
  const jmap::SetOutcome& o = outcome.value();
  FUZZ_CHECK(o.done.size() + o.failed.size() == requested.size());
  size_t done = 0;
  size_t failed = 0;
  for (const std::string& id : requested) {
    if (done < o.done.size() && o.done[done] == id) {
      ++done;
    } else {
      FUZZ_CHECK(failed < o.failed.size() && o.failed[failed].first == id &&
                 !o.failed[failed].second.empty());
      ++failed;
    }
  }
}

void check_body(std::string_view body) {
  std::vector<std::string> strings;
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded()) collect_strings(parsed, strings);

  check_session(body);
  check_mailboxes(body, strings);
  check_page(body);
  check_set_outcome(body, strings);
  check_set_outcome(body, {});
  for (const std::string& id : strings) {
    (void)jmap::parse_email_exists(body, id);
    check_uidl(id);
  }
  (void)jmap::parse_email_exists(body, "");
  check_uidl(body.substr(0, 300));  // any octets, not only JSON strings
  check_request(jmap::destroy_request("account", strings));
  check_request(jmap::set_seen_request("account", strings));
  if (!strings.empty())
    check_request(jmap::move_request("account", strings, strings.front(), strings.back()));
  check_retry_after(body.substr(0, 300));
}

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return popgate::fuzz::check_input_without_exceptions(data, size, popgate::fuzz::check_body);
}
