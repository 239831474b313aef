// Parking, finding, expiring and evicting logged-in upstream sessions.
#include "gateway/upstream/upstream_pool.h"

#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "gateway/log.h"

namespace popgate {
namespace {

// Drawn once per process: an HMAC under it cannot be checked against guessed passwords by anyone
// who reads the process's memory later without the key, and differs between processes.
const std::array<uint8_t, 32>& hmac_key() {
  static const std::array<uint8_t, 32> key = [] {
    std::array<uint8_t, 32> bytes{};
    if (RAND_bytes(bytes.data(), bytes.size()) != 1) std::abort();  // no randomness: nothing is safe
    return bytes;
  }();
  return key;
}

std::string hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    text.push_back(kDigits[bytes[i] >> 4]);
    text.push_back(kDigits[bytes[i] & 0xf]);
  }
  return text;
}

}  // namespace

UpstreamReuseCounters& upstream_reuse_counters(std::string_view adapter) {
  static UpstreamReuseCounters imap;
  static UpstreamReuseCounters jmap;
  static UpstreamReuseCounters other;
  if (adapter == "imap") return imap;
  if (adapter == "jmap") return jmap;
  return other;
}

UpstreamPool::UpstreamPool(io::Loop& loop, std::string adapter, UpstreamPoolSettings settings)
    : loop_(loop),
      adapter_(std::move(adapter)),
      settings_(settings),
      counters_(upstream_reuse_counters(adapter_)),
      expiry_(loop) {}

UpstreamPool::~UpstreamPool() {
  counters_.parked -= static_cast<int64_t>(parked_.size());
}

std::string UpstreamPool::park_key(const Credentials& credentials) {
  // The kind is part of the MAC: a password and a token that happen to be equal are not the same
  // credential. The user goes in plain (it is not secret) and separated by a NUL it cannot hold.
  const std::string_view secret = credentials.password.reveal();
  const uint8_t kind = credentials.kind == CredentialKind::BearerToken ? 1 : 0;
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  bssl::ScopedHMAC_CTX context;
  const auto& key = hmac_key();
  if (!HMAC_Init_ex(context.get(), key.data(), key.size(), EVP_sha256(), nullptr) ||
      !HMAC_Update(context.get(), &kind, 1) ||
      !HMAC_Update(context.get(), reinterpret_cast<const uint8_t*>(secret.data()), secret.size()) ||
      !HMAC_Final(context.get(), mac, &mac_size)) {
    std::abort();  // SHA-256 HMAC cannot fail short of memory corruption
  }
  std::string park_key = credentials.user;
  park_key.push_back('\0');
  park_key += hex(mac, mac_size);
  return park_key;
}

MailboxPtr UpstreamPool::take(const std::string& key) {
  auto [first, last] = by_key_.equal_range(key);
  if (first == last) {
    ++counters_.miss;
    return nullptr;
  }
  // The newest: it was last known good most recently.
  auto newest = first;
  for (auto it = first; it != last; ++it) {
    if (it->second->id > newest->second->id) newest = it;
  }
  Entries::iterator entry = newest->second;
  if (!entry->mailbox->can_park()) {
    // Failed without telling (it would have left the pool): as good as closed.
    drop(entry, counters_.closed, "upstream_park_closed");
    ++counters_.miss;
    arm_expiry();
    return nullptr;
  }
  MailboxPtr mailbox = std::move(entry->mailbox);
  mailbox->set_lost_handler(nullptr);
  by_key_.erase(newest);
  by_id_.erase(entry->id);
  parked_.erase(entry);
  --counters_.parked;
  ++counters_.hit;
  arm_expiry();
  if (log::enabled(log::Level::Debug))
    log::Line(log::Level::Debug, "upstream_reused")
        .field("adapter", adapter_)
        .field("parked", parked_.size());
  return mailbox;
}

void UpstreamPool::park(const std::string& key, MailboxPtr&& mailbox) {
  if (!mailbox) return;
  if (!mailbox->can_park()) {
    loop_.deferred_delete(std::move(mailbox));
    return;
  }
  const uint64_t id = next_id_++;
  mailbox->set_lost_handler([this, id] { on_lost(id); });
  parked_.push_back(Parked{id, key, loop_.now_ms(), std::move(mailbox)});
  auto entry = std::prev(parked_.end());
  by_key_.emplace(key, entry);
  by_id_.emplace(id, entry);
  ++counters_.parked;
  if (log::enabled(log::Level::Debug))
    log::Line(log::Level::Debug, "upstream_parked")
        .field("adapter", adapter_)
        .field("parked", parked_.size());
  while (parked_.size() > settings_.max_parked)
    drop(parked_.begin(), counters_.evicted, "upstream_park_evicted");
  arm_expiry();
}

void UpstreamPool::drop(Entries::iterator entry, std::atomic<uint64_t>& counter, const char* event) {
  auto [first, last] = by_key_.equal_range(entry->key);
  for (auto it = first; it != last; ++it) {
    if (it->second == entry) {
      by_key_.erase(it);
      break;
    }
  }
  by_id_.erase(entry->id);
  MailboxPtr mailbox = std::move(entry->mailbox);
  mailbox->set_lost_handler(nullptr);
  parked_.erase(entry);
  --counters_.parked;
  ++counter;
  if (log::enabled(log::Level::Debug))
    log::Line(log::Level::Debug, event).field("adapter", adapter_).field("parked", parked_.size());
  loop_.deferred_delete(std::move(mailbox));
}

void UpstreamPool::on_lost(uint64_t id) {
  // Runs inside the mailbox's connection: drop() only schedules its destruction.
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return;
  drop(found->second, counters_.closed, "upstream_park_closed");
  arm_expiry();
}

void UpstreamPool::expire() {
  const uint64_t now = loop_.now_ms();
  while (!parked_.empty() && parked_.front().parked_ms + settings_.reuse_time_ms <= now) {
    drop(parked_.begin(), counters_.expired, "upstream_park_expired");
  }
  arm_expiry();
}

void UpstreamPool::arm_expiry() {
  if (parked_.empty()) return expiry_.stop();
  const uint64_t due = parked_.front().parked_ms + settings_.reuse_time_ms;
  const uint64_t now = loop_.now_ms();
  expiry_.start(due > now ? due - now : 0, [this] { expire(); });
}

}  // namespace popgate
