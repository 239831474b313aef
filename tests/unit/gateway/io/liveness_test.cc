// Liveness: a watch is alive until its owner's Liveness is destroyed or revoked, and
// deferred work that watches an owner destroyed meanwhile does not run.
#include "gateway/io/liveness.h"

#include <gtest/gtest.h>

#include <memory>

#include "gateway/io/loop.h"

namespace popgate::io {
namespace {

TEST(Liveness, AWatchIsAliveUntilItsLivenessIsDestroyed) {
  Liveness::Watch watch;
  {
    Liveness alive;
    watch = alive.watch();
    EXPECT_TRUE(watch);
    Liveness::Watch copy = watch;
    EXPECT_TRUE(copy);
  }
  EXPECT_FALSE(watch);
}

TEST(Liveness, ADefaultWatchWatchesNothing) {
  Liveness::Watch watch;
  EXPECT_FALSE(watch);
}

TEST(Liveness, RevokeEndsTheWatchesTakenSoFarOnly) {
  Liveness alive;
  Liveness::Watch before = alive.watch();
  alive.revoke();
  EXPECT_FALSE(before);
  Liveness::Watch after = alive.watch();
  EXPECT_TRUE(after);
  EXPECT_FALSE(before);  // the new attempt does not revive the old one's watches
  alive.revoke();
  alive.revoke();  // twice is harmless
  EXPECT_FALSE(after);
}

TEST(Liveness, WatchesOfTheSameAttemptShareItsFate) {
  Liveness alive;
  Liveness::Watch first = alive.watch();
  Liveness::Watch second = alive.watch();
  EXPECT_TRUE(first);
  EXPECT_TRUE(second);
  alive.revoke();
  EXPECT_FALSE(first);
  EXPECT_FALSE(second);
}

// The use it is made for: an owner defers work and is destroyed before the loop runs it.
class Owner {
 public:
  Owner(Loop& loop, int& ran) : loop_(loop), ran_(ran) {}
  void later() {
    loop_.defer([this, alive = alive_.watch()] {
      if (!alive) return;
      ++ran_;
    });
  }

 private:
  Loop& loop_;
  int& ran_;
  Liveness alive_;
};

TEST(Liveness, DeferredWorkOfADestroyedOwnerDoesNotRun) {
  Loop loop;
  int ran = 0;
  auto kept = std::make_unique<Owner>(loop, ran);
  auto gone = std::make_unique<Owner>(loop, ran);
  kept->later();
  gone->later();
  gone.reset();
  loop.run();
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace popgate::io
