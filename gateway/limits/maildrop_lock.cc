// The per-process maildrop lock table.
#include "gateway/limits/maildrop_lock.h"

namespace popgate {

MaildropLock::~MaildropLock() {
  owner_.release(key_);
}

MaildropLockPtr MaildropLocks::try_acquire(const std::string& key) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!held_.insert(key).second) return nullptr;
  return std::make_unique<MaildropLock>(*this, key);
}

size_t MaildropLocks::held() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return held_.size();
}

void MaildropLocks::release(const std::string& key) {
  std::lock_guard<std::mutex> guard(mutex_);
  held_.erase(key);
}

}  // namespace popgate
