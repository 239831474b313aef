// The per-process maildrop lock table, and the loop's way of asking it.
#include "gateway/limits/maildrop_lock.h"

namespace popgate {

class MaildropLocks::Held final : public MaildropLock {
 public:
  Held(MaildropLocks& owner, std::string key) : owner_(owner), key_(std::move(key)) {}
  ~Held() override { owner_.release(key_); }

 private:
  MaildropLocks& owner_;
  std::string key_;
};

MaildropLockPtr MaildropLocks::try_acquire(const std::string& key) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!held_.insert(key).second) return nullptr;
  return std::make_unique<Held>(*this, key);
}

size_t MaildropLocks::held() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return held_.size();
}

void MaildropLocks::release(const std::string& key) {
  std::lock_guard<std::mutex> guard(mutex_);
  held_.erase(key);
}

namespace {

// Cancelled by going: the deferred answer watches it.
class PendingLocal final : public PendingMaildropLock {
 public:
  io::Liveness alive;
};

}  // namespace

PendingMaildropLockPtr LocalMaildropLockTable::acquire(const std::string& key, Done done) {
  auto pending = std::make_unique<PendingLocal>();
  // Taken when the answer runs, not now: a lock nobody is left to hold is never taken.
  loop_.defer([this, key, done = std::move(done), alive = pending->alive.watch()] {
    if (!alive) return;
    MaildropLockPtr lock = locks_.try_acquire(key);
    if (!lock) return done(make_error(ErrorKind::InUse, "another session holds the maildrop"));
    done(std::move(lock));
  });
  return pending;
}

}  // namespace popgate
