// UpstreamPool: logged-in upstream sessions parked after a clean QUIT, for the next login of the
// same upstream user with the same credential (a device polling every minute then skips the
// upstream TLS handshake and login).
//
// One pool per MailboxFactory, so per event loop and upstream (a route's URL, mailbox and
// settings): never used across threads. The key is the upstream user and an HMAC-SHA256 of the
// credential under a random per-process key, so a login with another password or token misses
// (and the upstream judges it) and nothing stored can be turned back into the password.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "adapters/mailbox.h"
#include "gateway/io/loop.h"
#include "gateway/io/timer.h"

namespace popgate {

// What the pools of one adapter did, process-wide (each loop's pools add to them; Metrics brings
// them into popgate_upstream_reuse_total and popgate_upstream_parked_connections at each scrape).
struct UpstreamReuseCounters {
  std::atomic<uint64_t> hit{0};      // a login got a parked session
  std::atomic<uint64_t> miss{0};     // none was parked for that user and credential
  std::atomic<uint64_t> expired{0};  // parked longer than --upstream-reuse-time
  std::atomic<uint64_t> closed{0};   // the upstream ended a parked session
  std::atomic<uint64_t> evicted{0};  // the oldest, to stay within --upstream-reuse-max
  std::atomic<int64_t> parked{0};    // parked now
};
// "imap" and "jmap"; any other adapter (a test's fake) shares one uncounted set.
UpstreamReuseCounters& upstream_reuse_counters(std::string_view adapter);

struct UpstreamPoolSettings {
  uint64_t reuse_time_ms = 90'000;  // > 0
  size_t max_parked = 1'000;        // > 0
};

class UpstreamPool {
 public:
  UpstreamPool(io::Loop& loop, std::string adapter, UpstreamPoolSettings settings);
  // Parked mailboxes are destroyed (IMAP logs out).
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // The user and the credential's HMAC: what a parked session is found by. Never log it.
  static std::string park_key(const Credentials& credentials);

  // The most recently parked mailbox under `key`, no longer watched for the upstream closing
  // it, or null.
  MailboxPtr take(const std::string& key);
  // Keeps `mailbox` under `key` until taken, expired, evicted or closed by the upstream. A
  // mailbox that cannot be parked is dropped. A mailbox is never destroyed inside this call
  // (the caller may be running inside one of its callbacks): the next loop tick does it.
  void park(const std::string& key, MailboxPtr&& mailbox);

  size_t parked() const { return parked_.size(); }

 private:
  struct Parked {
    uint64_t id = 0;
    std::string key;
    uint64_t parked_ms = 0;
    MailboxPtr mailbox;
  };
  using Entries = std::list<Parked>;  // oldest first

  // Removes `entry`; its mailbox is destroyed on the next tick.
  void drop(Entries::iterator entry, std::atomic<uint64_t>& counter, const char* event);
  void on_lost(uint64_t id);
  void expire();
  void arm_expiry();

  io::Loop& loop_;
  const std::string adapter_;
  const UpstreamPoolSettings settings_;
  UpstreamReuseCounters& counters_;
  Entries parked_;
  std::unordered_multimap<std::string, Entries::iterator> by_key_;
  std::unordered_map<uint64_t, Entries::iterator> by_id_;
  uint64_t next_id_ = 1;
  io::Timer expiry_;
};

}  // namespace popgate
