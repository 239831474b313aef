// MaildropLocks: RFC 1939 §8's exclusive-access lock, one holder per upstream mailbox per process.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

namespace popgate {

class MaildropLocks;

// Held by a session for as long as it serves the mailbox; releases in its destructor.
class MaildropLock {
 public:
  MaildropLock(MaildropLocks& owner, std::string key) : owner_(owner), key_(std::move(key)) {}
  ~MaildropLock();
  MaildropLock(const MaildropLock&) = delete;
  MaildropLock& operator=(const MaildropLock&) = delete;

 private:
  MaildropLocks& owner_;
  std::string key_;
};

using MaildropLockPtr = std::unique_ptr<MaildropLock>;

// Thread-safe: worker loops of one process share it.
class MaildropLocks {
 public:
  // nullptr when another session holds `key`.
  MaildropLockPtr try_acquire(const std::string& key);
  size_t held() const;

 private:
  friend class MaildropLock;
  void release(const std::string& key);

  mutable std::mutex mutex_;
  std::unordered_set<std::string> held_;
};

}  // namespace popgate
