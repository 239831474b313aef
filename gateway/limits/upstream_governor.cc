// UpstreamGovernor: a bounded table of identities with their open sessions and backoff.
#include "gateway/limits/upstream_governor.h"

#include <algorithm>

#include "protocol/common/ascii.h"

namespace popgate {
namespace {

constexpr unsigned kMaxDoublings = 20;  // 2^20 × base is far past any sane cap: no overflow

}  // namespace

struct UpstreamGovernor::State {
  struct Entry {
    uint64_t sessions = 0;          // slots held
    uint64_t throttled = 0;         // throttling answers in a row (since the last success)
    uint64_t backoff_until_ms = 0;  // logins are answered [LOGIN-DELAY] until then
  };

  explicit State(size_t max_entries) : max_entries(max_entries) {}

  // Room for one more entry: first forget identities with nothing open and no backoff running,
  // then the one whose backoff ends first among those with nothing open. False when every entry
  // holds sessions (more identities busy than the table holds).
  bool make_room(uint64_t now_ms) {
    if (entries.size() < max_entries) return true;
    std::erase_if(entries, [&](const auto& entry) {
      return entry.second.sessions == 0 && entry.second.backoff_until_ms <= now_ms;
    });
    if (entries.size() < max_entries) return true;
    auto oldest = entries.end();
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it->second.sessions == 0 &&
          (oldest == entries.end() || it->second.backoff_until_ms < oldest->second.backoff_until_ms)) {
        oldest = it;
      }
    }
    if (oldest == entries.end()) return false;
    entries.erase(oldest);
    return true;
  }

  // An entry that no longer says anything goes, so the table holds only what matters.
  void forget_if_idle(std::unordered_map<std::string, Entry>::iterator it) {
    if (it->second.sessions == 0 && it->second.throttled == 0) entries.erase(it);
  }

  const size_t max_entries;
  mutable std::mutex mutex;
  std::unordered_map<std::string, Entry> entries;
};

UpstreamGovernor::Slot UpstreamGovernor::hold(std::shared_ptr<State> state, std::string identity) {
  return Slot([state = std::move(state), key = std::move(identity)] {
    if (key.empty()) return;  // admitted uncounted
    std::lock_guard lock(state->mutex);
    auto it = state->entries.find(key);
    if (it == state->entries.end()) return;  // cannot happen: an entry with sessions is never evicted
    if (it->second.sessions > 0) --it->second.sessions;
    state->forget_if_idle(it);
  });
}

UpstreamGovernor::UpstreamGovernor(size_t max_tracked_identities)
    : state_(std::make_shared<State>(std::max<size_t>(1, max_tracked_identities))) {}

UpstreamGovernor::Admission UpstreamGovernor::admit(const std::string& identity, uint64_t now_ms,
                                                    const UpstreamGovernorSettings& settings) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->entries.find(identity);
  if (it != state_->entries.end()) {
    const State::Entry& entry = it->second;
    if (entry.backoff_until_ms > now_ms)
      return Admission{Verdict::BackingOff, entry.backoff_until_ms - now_ms, {}};
    if (settings.max_sessions_per_identity > 0 && entry.sessions >= settings.max_sessions_per_identity) {
      return Admission{Verdict::Capped, 0, {}};
    }
  } else {
    if (!state_->make_room(now_ms)) {
      // Every tracked identity has sessions open: this one goes upstream uncounted rather than
      // being refused for what other identities do.
      return Admission{Verdict::Admitted, 0, hold(state_, "")};
    }
    it = state_->entries.emplace(identity, State::Entry{}).first;
  }
  ++it->second.sessions;
  return Admission{Verdict::Admitted, 0, hold(state_, identity)};
}

uint64_t UpstreamGovernor::record_throttled(const std::string& identity, uint64_t retry_after_ms,
                                            uint64_t now_ms, const UpstreamGovernorSettings& settings) {
  if (settings.backoff_base_ms == 0) return 0;
  std::lock_guard lock(state_->mutex);
  auto it = state_->entries.find(identity);
  if (it == state_->entries.end()) {
    if (!state_->make_room(now_ms)) return 0;
    it = state_->entries.emplace(identity, State::Entry{}).first;
  }
  State::Entry& entry = it->second;
  if (entry.backoff_until_ms > now_ms) return entry.backoff_until_ms - now_ms;
  ++entry.throttled;
  uint64_t backoff = retry_after_ms;
  if (backoff == 0) {
    const auto doublings = static_cast<unsigned>(std::min<uint64_t>(entry.throttled - 1, kMaxDoublings));
    backoff = std::min(settings.backoff_base_ms << doublings,
                       std::max(settings.backoff_max_ms, settings.backoff_base_ms));
  }
  entry.backoff_until_ms = now_ms + backoff;
  return backoff;
}

void UpstreamGovernor::record_success(const std::string& identity) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->entries.find(identity);
  if (it == state_->entries.end()) return;
  it->second.throttled = 0;
  it->second.backoff_until_ms = 0;
  state_->forget_if_idle(it);
}

size_t UpstreamGovernor::tracked_identities() const {
  std::lock_guard lock(state_->mutex);
  return state_->entries.size();
}

uint64_t UpstreamGovernor::open_sessions(const std::string& identity) const {
  std::lock_guard lock(state_->mutex);
  auto it = state_->entries.find(identity);
  return it == state_->entries.end() ? 0 : it->second.sessions;
}

std::string UpstreamGovernor::identity_key(std::string_view route, std::string_view upstream_user,
                                           std::string_view local_identity) {
  // The prefixes keep the two kinds apart; "\n" cannot be in a route, a login or a name.
  if (!local_identity.empty()) return "identity\n" + std::string(local_identity);
  return "route\n" + std::string(route) + "\n" + ascii::lower(upstream_user);
}

}  // namespace popgate
