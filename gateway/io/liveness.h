// Liveness: the one answer to "is my owner still alive?" for a callback that may outlive it.
//
// An owner whose callbacks can run after it is gone (deferred work, a completion from the
// loop), or whose own callbacks into its caller may destroy it, holds a Liveness member.
// Every such callback captures a cheap Watch and tests it before touching the owner:
//
//   loop_.defer([this, alive = alive_.watch()] {
//     if (!alive) return;  // the owner is gone
//     ...
//   });
//
// and a loop that calls out takes a Watch first and tests it after each call out. The owner
// is gone for its watches once its Liveness is destroyed or revoke()d: an owner whose
// destructor does more than destroy its members calls revoke() first thing in it. revoke()
// also serves an owner that drops one attempt and starts the next (a connection closed and
// opened again): watches taken before it see the old attempt gone, watches taken after see
// the new one. Loop thread only, like the callbacks it guards; a Watch holds no reference to
// the owner, so it may outlive it by any time.
#pragma once

#include <memory>

namespace popgate::io {

class Liveness {
 public:
  class Watch {
   public:
    Watch() = default;  // watches nothing: never alive
    // True while the Liveness it was taken from is neither destroyed nor revoked since.
    explicit operator bool() const noexcept { return !token_.expired(); }

   private:
    friend class Liveness;
    explicit Watch(const std::shared_ptr<const char>& token) : token_(token) {}
    std::weak_ptr<const char> token_;
  };

  Liveness() = default;
  ~Liveness() = default;  // every watch turns false
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;

  Watch watch() const {
    // Made on the first watch after construction or revoke(): an owner nobody watches costs nothing.
    if (!token_) token_ = std::make_shared<const char>();
    return Watch(token_);
  }
  // The watches taken so far turn false; the ones taken afterwards are alive again.
  void revoke() noexcept { token_.reset(); }

 private:
  mutable std::shared_ptr<const char> token_;
};

}  // namespace popgate::io
