// RedisMaildropLockTable: maildrop locks that hold across replicas, as leases in Redis.
//
// A lock is this process's own (MaildropLocks: two sessions of one replica never need the store
// to tell them apart) and a lease on the mailbox's key in the store, `SET key owner NX PX lease`
// with an owner token nobody else has. The lease is renewed every third of its life while the
// session lives, and given back when it ends by a script that deletes the key only if it still
// names this owner. A replica killed outright frees its maildrops when their leases run out.
//
// A renewal that finds no lease takes it again (the store restarted empty, or the lock was taken
// while the store was unreachable); one that finds another owner logs it and counts it, and the
// session goes on: deletions go by UID after QUIT, so two sessions on one maildrop lose nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gateway/admin/state_store_metrics.h"
#include "gateway/config/state_store_url.h"
#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "gateway/io/redis_connection.h"
#include "gateway/limits/maildrop_lock.h"

namespace popgate {

struct MaildropLeaseSettings {
  std::string key_prefix = "popgate:maildrop:";
  uint64_t lease_ms = 30'000;
  StateStoreFailure failure = StateStoreFailure::Open;
  std::string owner_prefix;  // names the replica in the owner token ("pod-7f9c:"), for operators
};

class RedisMaildropLockTable final : public MaildropLockTable {
 public:
  // All of them outlive the table; the table outlives nothing it handed out (a lock that goes
  // after it lets its lease run out).
  RedisMaildropLockTable(io::Loop& loop, io::RedisConnection& store, MaildropLocks& process_locks,
                         StateStoreMetrics& metrics, MaildropLeaseSettings settings);
  ~RedisMaildropLockTable() override;

  PendingMaildropLockPtr acquire(const std::string& key, Done done) override;

 private:
  class Lease;
  class Pending;
  friend class Lease;

  io::Loop& loop_;
  io::RedisConnection& store_;
  MaildropLocks& process_locks_;
  StateStoreMetrics& metrics_;
  const MaildropLeaseSettings settings_;
  io::Liveness alive_;
};

}  // namespace popgate
