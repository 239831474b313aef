// Loop, Timer and SignalWatcher: deferred work, one-shot timers, owner destroyed in callbacks.
#include "gateway/io/loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>
#include <vector>

#include "gateway/io/signal_watcher.h"
#include "gateway/io/timer.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::io {
namespace {

using testing::run_until;

TEST(Loop, RunReturnsAtOnceWhenIdle) {
  Loop loop;
  loop.run();  // the deferred-work handle is unreferenced: nothing keeps the loop alive
  SUCCEED();
}

TEST(Loop, DeferRunsOnALaterIterationInOrder) {
  Loop loop;
  std::vector<int> order;
  loop.defer([&] { order.push_back(1); });
  loop.defer([&] { order.push_back(2); });
  loop.defer([&] { order.push_back(3); });
  EXPECT_TRUE(order.empty());
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(Loop, WorkDeferredByDeferredWorkRunsAfterTheCurrentBatch) {
  Loop loop;
  std::vector<std::string> order;
  loop.defer([&] {
    order.push_back("a");
    loop.defer([&] { order.push_back("c"); });
    order.push_back("a-end");
  });
  loop.defer([&] { order.push_back("b"); });
  loop.run();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "a-end", "b", "c"}));
}

TEST(Loop, DeferFromATimerCallbackRunsAfterTheCallbackReturns) {
  Loop loop;
  Timer timer(loop);
  std::vector<std::string> order;
  timer.start(1, [&] {
    loop.defer([&] { order.push_back("deferred"); });
    order.push_back("timer");
  });
  loop.run();
  EXPECT_EQ(order, (std::vector<std::string>{"timer", "deferred"}));
}

TEST(Loop, DeferFromAnotherThreadKeepsOrder) {
  Loop loop;
  constexpr int kCount = 2000;
  std::vector<int> seen;
  std::thread poster([&] {
    for (int i = 0; i < kCount; ++i) loop.defer([&seen, i] { seen.push_back(i); });
  });
  EXPECT_TRUE(run_until(loop, [&] { return seen.size() == kCount; }));
  poster.join();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(seen[i], i);
}

TEST(Loop, StopEndsRunAndRunCanResume) {
  Loop loop;
  Timer ticker(loop);
  Timer stopper(loop);
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    ticker.start(1, tick);
  };
  ticker.start(1, tick);
  stopper.start(20, [&] { loop.stop(); });
  loop.run();  // would never return without stop(): the ticker re-arms forever
  int first = ticks;
  EXPECT_GT(first, 0);
  stopper.start(20, [&] { loop.stop(); });
  loop.run();
  EXPECT_GT(ticks, first);
}

TEST(Loop, DestructorDropsDeferredWorkWithoutRunningIt) {
  auto token = std::make_shared<int>(0);
  bool ran = false;
  {
    Loop loop;
    loop.defer([token, &ran] { ran = true; });
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(token.use_count(), 1);
}

// Records its own destruction, and may queue more from its destructor.
struct Doomed {
  Doomed(std::vector<std::string>& log, std::string name, std::function<void()> on_destroy = {})
      : log(log), name(std::move(name)), on_destroy(std::move(on_destroy)) {}
  ~Doomed() {
    log.push_back(name);
    if (on_destroy) on_destroy();
  }
  std::vector<std::string>& log;
  std::string name;
  std::function<void()> on_destroy;
};

TEST(Loop, DeferredDeleteDestroysOnTheNextIterationAfterItsWork) {
  Loop loop;
  std::vector<std::string> log;
  loop.defer([&] { log.push_back("work before"); });
  loop.deferred_delete(std::make_unique<Doomed>(log, "doomed"));
  loop.defer([&] { log.push_back("work after"); });
  EXPECT_TRUE(log.empty());  // not inside the call
  loop.run_nowait();
  EXPECT_EQ(log, (std::vector<std::string>{"work before", "work after", "doomed"}));
}

TEST(Loop, DeferredDeletesOfOneIterationGoInOrder) {
  Loop loop;
  std::vector<std::string> log;
  loop.deferred_delete(std::make_unique<Doomed>(log, "first"));
  loop.deferred_delete(std::make_unique<Doomed>(log, "second"));
  loop.deferred_delete(std::unique_ptr<Doomed>());  // nothing to delete: ignored
  loop.deferred_delete(std::make_unique<Doomed>(log, "third"));
  loop.run();
  EXPECT_EQ(log, (std::vector<std::string>{"first", "second", "third"}));
}

TEST(Loop, DeferredDeleteQueuedByADestructorRunsOnALaterIteration) {
  Loop loop;
  std::vector<std::string> log;
  loop.deferred_delete(std::make_unique<Doomed>(log, "outer", [&] {
    loop.deferred_delete(std::make_unique<Doomed>(log, "inner"));
    loop.defer([&] { log.push_back("work queued with inner"); });
  }));
  loop.run();
  // "inner" goes with the batch after "outer"'s, once that batch's work has run.
  EXPECT_EQ(log, (std::vector<std::string>{"outer", "work queued with inner", "inner"}));
}

TEST(Loop, DeferredDeleteThroughABasePointerRunsTheDerivedDestructor) {
  struct Base {
    virtual ~Base() = default;
  };
  struct Derived : Base {
    explicit Derived(bool& destroyed) : destroyed(destroyed) {}
    ~Derived() override { destroyed = true; }
    bool& destroyed;
  };
  Loop loop;
  bool destroyed = false;
  loop.deferred_delete(std::unique_ptr<Base>(std::make_unique<Derived>(destroyed)));
  loop.run();
  EXPECT_TRUE(destroyed);
}

TEST(Loop, DestructorDeletesWhatIsQueuedForDeletion) {
  std::vector<std::string> log;
  {
    Loop loop;
    loop.deferred_delete(std::make_unique<Doomed>(log, "queued", [&] {
      // Queued while the loop closes: deleted all the same.
      loop.deferred_delete(std::make_unique<Doomed>(log, "queued by its destructor"));
    }));
    EXPECT_TRUE(log.empty());
  }
  EXPECT_EQ(log, (std::vector<std::string>{"queued", "queued by its destructor"}));
}

TEST(Timer, FiresOnceAfterTheTimeout) {
  Loop loop;
  Timer timer(loop);
  int fired = 0;
  uint64_t started = loop.now_ms();
  timer.start(20, [&] { ++fired; });
  EXPECT_TRUE(timer.active());
  loop.run();
  EXPECT_EQ(fired, 1);
  EXPECT_GE(loop.now_ms() - started, 20u);
  EXPECT_FALSE(timer.active());
}

TEST(Timer, StopPreventsTheCallbackAndReleasesIt) {
  Loop loop;
  Timer timer(loop);
  auto token = std::make_shared<int>(0);
  bool fired = false;
  timer.start(5, [token, &fired] { fired = true; });
  timer.stop();
  EXPECT_FALSE(timer.active());
  EXPECT_EQ(token.use_count(), 1);
  loop.run();
  EXPECT_FALSE(fired);
}

TEST(Timer, RestartReplacesTimeoutAndCallback) {
  Loop loop;
  Timer timer(loop);
  std::vector<std::string> fired;
  timer.start(5'000, [&] { fired.push_back("first"); });
  timer.start(5, [&] { fired.push_back("second"); });
  uint64_t started = loop.now_ms();
  loop.run();
  EXPECT_EQ(fired, std::vector<std::string>{"second"});
  EXPECT_LT(loop.now_ms() - started, 4'000u);
}

TEST(Timer, CallbackMayRearmItsTimer) {
  Loop loop;
  Timer timer(loop);
  int fired = 0;
  std::function<void()> again = [&] {
    if (++fired < 3) timer.start(1, again);
  };
  timer.start(1, again);
  loop.run();
  EXPECT_EQ(fired, 3);
}

TEST(Timer, CallbackMayDestroyItsTimer) {
  Loop loop;
  auto timer = std::make_unique<Timer>(loop);
  auto token = std::make_shared<int>(0);
  bool fired = false;
  timer->start(1, [&, token] {
    timer.reset();  // the running callback's captures must survive this
    fired = *token == 0;
  });
  token.reset();
  loop.run();
  EXPECT_TRUE(fired);
  EXPECT_EQ(timer, nullptr);
}

TEST(Timer, DestroyedWhileArmedNeverFires) {
  Loop loop;
  bool fired = false;
  {
    Timer timer(loop);
    timer.start(1, [&] { fired = true; });
  }
  loop.run();
  EXPECT_FALSE(fired);
}

TEST(SignalWatcher, RunsItsCallbackOnTheLoopAndMayDestroyItself) {
  Loop loop;
  int fired = 0;
  std::unique_ptr<SignalWatcher> watcher;
  watcher = std::make_unique<SignalWatcher>(loop, SIGUSR1, [&] {
    ++fired;
    watcher.reset();
  });
  ASSERT_EQ(uv_kill(uv_os_getpid(), SIGUSR1), 0);
  EXPECT_TRUE(run_until(loop, [&] { return fired > 0; }));
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(watcher, nullptr);
}

TEST(SignalWatcher, DoesNotKeepTheLoopAlive) {
  Loop loop;
  SignalWatcher watcher(loop, SIGUSR2, [] {});
  loop.run();  // returns: a watcher alone is no reason to keep running
  SUCCEED();
}

}  // namespace
}  // namespace popgate::io
