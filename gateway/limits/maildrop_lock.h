// Maildrop locks: RFC 1939 §8's exclusive access, one holder per upstream mailbox. MaildropLocks
// is the process's table; a MaildropLockTable is what a login asks, on its loop: the process's
// table alone (LocalMaildropLockTable), or that and a lease in a store the replicas share
// (gateway/state/redis_maildrop_locks.h).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"
#include "protocol/common/result.h"

namespace popgate {

// Held by a session for as long as it serves the mailbox; releases in its destructor, on the
// loop that took it.
class MaildropLock {
 public:
  virtual ~MaildropLock() = default;
};

using MaildropLockPtr = std::unique_ptr<MaildropLock>;

// Thread-safe: worker loops of one process share it.
class MaildropLocks {
 public:
  // nullptr when another session holds `key`.
  MaildropLockPtr try_acquire(const std::string& key);
  size_t held() const;

 private:
  class Held;
  void release(const std::string& key);

  mutable std::mutex mutex_;
  std::unordered_set<std::string> held_;
};

// A lock being taken; destroying it cancels: the callback never runs, and a lock the store
// granted meanwhile is given back.
class PendingMaildropLock {
 public:
  virtual ~PendingMaildropLock() = default;
};
using PendingMaildropLockPtr = std::unique_ptr<PendingMaildropLock>;

class MaildropLockTable {
 public:
  // The lock, or an Error: InUse when another session holds the maildrop, Temporary when the
  // holder cannot be known (a shared store unreachable, and --state-store-failure closed).
  using Done = std::function<void(Result<MaildropLockPtr>)>;
  virtual ~MaildropLockTable() = default;
  // `done` runs once, later, never inside the call.
  virtual PendingMaildropLockPtr acquire(const std::string& key, Done done) = 0;
};

// The process's table, answered from the loop.
class LocalMaildropLockTable final : public MaildropLockTable {
 public:
  LocalMaildropLockTable(io::Loop& loop, MaildropLocks& locks) : loop_(loop), locks_(locks) {}
  PendingMaildropLockPtr acquire(const std::string& key, Done done) override;

 private:
  io::Loop& loop_;
  MaildropLocks& locks_;
};

}  // namespace popgate
