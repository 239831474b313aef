// run_on_threadpool: the work off the loop thread, the completion on it, and a handle whose
// destruction cancels the completion but not the work.
#include "gateway/io/threadpool_work.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::io {
namespace {

using testing::run_for;
using testing::run_until;

// Records the thread it is destroyed on: what a job captured must not die on the pool.
struct DestroyedOn {
  explicit DestroyedOn(std::thread::id* where) : where(where) {}
  ~DestroyedOn() { *where = std::this_thread::get_id(); }
  std::thread::id* where;
};

TEST(ThreadpoolWork, WorkRunsOnThePoolAndDoneOnTheLoopThreadLater) {
  Loop loop;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::thread::id work_thread;
  std::thread::id done_thread;
  int done_calls = 0;
  ThreadpoolWorkPtr work = run_on_threadpool(
      loop, [&] { work_thread = std::this_thread::get_id(); },
      [&] {
        done_thread = std::this_thread::get_id();
        ++done_calls;
      });
  EXPECT_EQ(done_calls, 0);  // never inside the call
  ASSERT_TRUE(run_until(loop, [&] { return done_calls > 0; }));
  EXPECT_NE(work_thread, loop_thread);
  EXPECT_EQ(done_thread, loop_thread);
  run_for(loop, 20);
  EXPECT_EQ(done_calls, 1);
}

TEST(ThreadpoolWork, DestroyingTheHandleCancelsDoneButNotTheWork) {
  Loop loop;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::thread::id work_captures_died_on;
  std::thread::id done_captures_died_on;
  bool done_ran = false;
  ThreadpoolWorkPtr work = run_on_threadpool(
      loop,
      [&, released, sentinel = std::make_shared<DestroyedOn>(&work_captures_died_on)] {
        started = true;
        released.wait();
        finished = true;
      },
      [&done_ran, sentinel = std::make_shared<DestroyedOn>(&done_captures_died_on)] { done_ran = true; });
  // Destroyed while the job runs: libuv cannot stop it, and it must not call back.
  ASSERT_TRUE(run_until(loop, [&] { return started.load(); }));
  work.reset();
  EXPECT_EQ(done_captures_died_on, loop_thread);  // at once, here
  release.set_value();
  ASSERT_TRUE(run_until(loop, [&] { return finished.load() && work_captures_died_on == loop_thread; }));
  run_for(loop, 20);
  EXPECT_FALSE(done_ran);
}

TEST(ThreadpoolWork, AJobStillQueuedRunsAfterItsHandleIsGone) {
  Loop loop;
  std::atomic<bool> ran{false};
  bool done_ran = false;
  run_on_threadpool(
      loop, [&] { ran = true; }, [&] { done_ran = true; })
      .reset();
  ASSERT_TRUE(run_until(loop, [&] { return ran.load(); }));
  run_for(loop, 20);
  EXPECT_FALSE(done_ran);
}

TEST(ThreadpoolWork, DoneMayDestroyItsOwnHandleAndStartAnotherJob) {
  Loop loop;
  ThreadpoolWorkPtr work;
  int first = 0;
  int second = 0;
  work = run_on_threadpool(
      loop, [] {},
      [&] {
        ++first;
        work.reset();
        work = run_on_threadpool(
            loop, [] {}, [&] { ++second; });
      });
  ASSERT_TRUE(run_until(loop, [&] { return second > 0; }));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  work.reset();  // after its completion: nothing left to cancel
}

TEST(ThreadpoolWork, TheLoopWaitsForAJobWhoseHandleIsGone) {
  std::atomic<bool> finished{false};
  bool done_ran = false;
  {
    Loop loop;
    ThreadpoolWorkPtr work = run_on_threadpool(
        loop,
        [&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          finished = true;
        },
        [&] { done_ran = true; });
    work.reset();
  }  // ~Loop: libuv finishes with the request before the loop closes
  EXPECT_TRUE(finished.load());
  EXPECT_FALSE(done_ran);
}

}  // namespace
}  // namespace popgate::io
