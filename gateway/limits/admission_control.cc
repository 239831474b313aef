// AdmissionControl: session counts and connection-rate buckets per client address, in a bounded table.
#include "gateway/limits/admission_control.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace popgate {
namespace {

constexpr uint64_t kMilli = 1000;
// A bucket refills completely in one second, whatever its rate: after that an entry without
// sessions is the same as no entry.
constexpr uint64_t kFullRefillMs = 1000;

}  // namespace

const char* to_string(Refusal refusal) {
  switch (refusal) {
    case Refusal::None:
      return "none";
    case Refusal::MaxSessions:
      return "max_sessions";
    case Refusal::MaxSessionsPerAddress:
      return "max_sessions_per_ip";
    case Refusal::ConnectionRate:
      return "connection_rate";
  }
  return "none";
}

std::string client_address_key(std::string_view numeric_address) {
  std::string text(numeric_address);
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) return text;
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) != 1) return text;
  static constexpr std::array<unsigned char, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin())) {
    char v4[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, bytes.data() + 12, v4, sizeof v4) != nullptr) return v4;
  }
  // The /64: the interface identifier is the host's to choose, the prefix is the network's.
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  char v6[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, bytes.data(), v6, sizeof v6) == nullptr) return text;
  return std::string(v6) + "/64";
}

void AdmissionControl::refill(Address& address, uint64_t now_ms, uint64_t rate) {
  const uint64_t capacity = rate * kMilli;
  if (address.rate != rate) {
    // New entry, or the limit changed with a reload: start from a full bucket.
    address.rate = rate;
    address.milli_tokens = capacity;
  } else if (now_ms > address.refilled_ms) {
    // rate connections a second = rate thousandths a millisecond.
    const uint64_t elapsed = std::min(now_ms - address.refilled_ms, kFullRefillMs);
    address.milli_tokens = std::min(capacity, address.milli_tokens + elapsed * rate);
  }
  address.refilled_ms = now_ms;
}

bool AdmissionControl::idle(const Address& address, uint64_t now_ms) {
  if (address.sessions > 0) return false;
  return address.rate == 0 || now_ms - address.refilled_ms >= kFullRefillMs ||
         address.milli_tokens == address.rate * kMilli;
}

bool AdmissionControl::make_room(uint64_t now_ms) {
  if (addresses_.size() < max_tracked_addresses_) return true;
  std::erase_if(addresses_, [now_ms](const auto& entry) { return idle(entry.second, now_ms); });
  if (addresses_.size() < max_tracked_addresses_) return true;
  // Still full: drop the rate state of an address without sessions, if there is one. Its next
  // connection starts from a full bucket; the session limits stay exact.
  for (auto it = addresses_.begin(); it != addresses_.end(); ++it) {
    if (it->second.sessions == 0) {
      addresses_.erase(it);
      return true;
    }
  }
  return false;
}

uint64_t AdmissionControl::sessions() const {
  std::lock_guard lock(mutex_);
  return sessions_;
}

size_t AdmissionControl::tracked_addresses() const {
  std::lock_guard lock(mutex_);
  return addresses_.size();
}

Refusal AdmissionControl::admit(const std::string& key, uint64_t now_ms, const AdmissionLimits& limits) {
  std::lock_guard lock(mutex_);
  auto it = addresses_.find(key);
  if (it == addresses_.end()) {
    if (!make_room(now_ms)) return Refusal::MaxSessions;  // every tracked address has a live session
    it = addresses_.emplace(key, Address{}).first;
  }
  Address& address = it->second;
  Refusal refusal = Refusal::None;
  if (limits.max_connection_rate > 0) {
    // The rate counts every attempt the limits below refuse too: a flood stays a flood.
    refill(address, now_ms, limits.max_connection_rate);
    if (address.milli_tokens < kMilli) {
      refusal = Refusal::ConnectionRate;
    } else {
      address.milli_tokens -= kMilli;
    }
  } else {
    address.rate = 0;
  }
  if (refusal == Refusal::None && limits.max_sessions > 0 && sessions_ >= limits.max_sessions) {
    refusal = Refusal::MaxSessions;
  }
  if (refusal == Refusal::None && limits.max_sessions_per_address > 0 &&
      address.sessions >= limits.max_sessions_per_address) {
    refusal = Refusal::MaxSessionsPerAddress;
  }
  if (refusal != Refusal::None) {
    if (idle(address, now_ms)) addresses_.erase(it);
    return refusal;
  }
  ++address.sessions;
  ++sessions_;
  return Refusal::None;
}

void AdmissionControl::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = addresses_.find(key);
  if (it == addresses_.end() || it->second.sessions == 0) return;
  --it->second.sessions;
  --sessions_;
  // Without a rate bucket an address with no session is no different from an unknown one.
  if (it->second.sessions == 0 && it->second.rate == 0) addresses_.erase(it);
}

bool LogThrottle::allow(uint64_t now_ms, uint64_t& suppressed) {
  if (logged_ && now_ms - last_ms_ < kFullRefillMs) {
    ++suppressed_;
    return false;
  }
  logged_ = true;
  last_ms_ = now_ms;
  suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace popgate
