// AuthThrottle: failure counts in fixed windows per address and per user, in bounded tables.
#include "gateway/limits/auth_throttle.h"

#include <algorithm>

#include "protocol/common/ascii.h"

namespace popgate {
namespace {

constexpr unsigned kMaxDoublings = 20;  // 2^20 × base is far past any sane cap: no overflow

}  // namespace

std::string AuthThrottle::user_key(std::string_view user) {
  return ascii::lower(user);
}

uint64_t AuthThrottle::current(const Table& table, const std::string& key, uint64_t now_ms,
                               uint64_t window_ms) {
  auto it = table.find(key);
  if (it == table.end() || now_ms - it->second.window_started_ms >= window_ms) return 0;
  return it->second.count;
}

uint64_t AuthThrottle::add(Table& table, const std::string& key, uint64_t now_ms, uint64_t window_ms) {
  auto it = table.find(key);
  if (it == table.end()) {
    if (table.size() >= max_tracked_keys_) {
      std::erase_if(table,
                    [&](const auto& entry) { return now_ms - entry.second.window_started_ms >= window_ms; });
    }
    if (table.size() >= max_tracked_keys_) {
      // Every window is still open: forget the oldest, so the newest attacker is always counted.
      table.erase(std::min_element(table.begin(), table.end(), [](const auto& a, const auto& b) {
        return a.second.window_started_ms < b.second.window_started_ms;
      }));
    }
    it = table.emplace(key, Failures{0, now_ms}).first;
  }
  Failures& failures = it->second;
  if (now_ms - failures.window_started_ms >= window_ms) failures = Failures{0, now_ms};
  return ++failures.count;
}

bool AuthThrottle::locked_out(const std::string& address, std::string_view user, uint64_t now_ms,
                              const AuthThrottleSettings& settings) {
  std::lock_guard lock(mutex_);
  const uint64_t window = settings.window_ms;
  if (settings.max_failures_per_address > 0 &&
      current(addresses_, address, now_ms, window) >= settings.max_failures_per_address) {
    return true;
  }
  return settings.max_failures_per_user > 0 &&
         current(users_, user_key(user), now_ms, window) >= settings.max_failures_per_user;
}

uint64_t AuthThrottle::record_failure(const std::string& address, std::string_view user, uint64_t now_ms,
                                      const AuthThrottleSettings& settings) {
  std::lock_guard lock(mutex_);
  const uint64_t by_address = add(addresses_, address, now_ms, settings.window_ms);
  const uint64_t by_user = add(users_, user_key(user), now_ms, settings.window_ms);
  const uint64_t failures = std::max(by_address, by_user);
  const auto doublings = static_cast<unsigned>(std::min<uint64_t>(failures - 1, kMaxDoublings));
  return std::min(settings.base_delay_ms << doublings,
                  std::max(settings.max_delay_ms, settings.base_delay_ms));
}

size_t AuthThrottle::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return addresses_.size() + users_.size();
}

void AuthThrottle::record_success(std::string_view user) {
  std::lock_guard lock(mutex_);
  users_.erase(user_key(user));
}

}  // namespace popgate
