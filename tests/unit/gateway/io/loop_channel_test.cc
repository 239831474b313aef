// LoopChannel: functions posted from other threads run on the loop thread, in order, and a closed
// channel drops them; an open channel keeps the loop running.
#include "gateway/io/loop_channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::io {
namespace {

using testing::run_until;

TEST(LoopChannel, FunctionsPostedFromOtherThreadsRunOnTheLoopThreadInTheirOrder) {
  Loop loop;
  LoopChannel channel(loop);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1000;
  std::vector<std::vector<int>> seen(kThreads);
  std::atomic<int> off_thread{0};
  const auto loop_thread = std::this_thread::get_id();
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t, sender = channel.sender()] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(sender.post([&, t, i] {
          if (std::this_thread::get_id() != loop_thread) ++off_thread;
          seen[t].push_back(i);  // the loop thread alone touches `seen`
        }));
      }
    });
  }
  auto all_seen = [&] {
    for (const auto& one : seen) {
      if (one.size() != kPerThread) return false;
    }
    return true;
  };
  EXPECT_TRUE(run_until(loop, all_seen));
  for (auto& poster : posters) poster.join();
  EXPECT_EQ(off_thread.load(), 0);
  for (const auto& one : seen) {
    ASSERT_EQ(one.size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) ASSERT_EQ(one[i], i) << "posts from one thread ran out of order";
  }
}

TEST(LoopChannel, NeverRunsInsideThePost) {
  Loop loop;
  LoopChannel channel(loop);
  bool ran = false;
  channel.post([&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_TRUE(run_until(loop, [&] { return ran; }));
}

TEST(LoopChannel, AnOpenChannelKeepsRunGoingUntilAPostedFunctionClosesIt) {
  Loop loop;
  auto channel = std::make_unique<LoopChannel>(loop);
  bool stopped = false;
  std::thread other([sender = channel->sender(), &channel, &stopped] {
    // Posted from another thread while run() blocks: only the open channel keeps it alive.
    sender.post([&] {
      stopped = true;
      channel->close();
    });
  });
  loop.run();  // returns once the channel is closed and nothing else is referenced
  other.join();
  EXPECT_TRUE(stopped);
}

TEST(LoopChannel, PostsAfterCloseAreDroppedUnrunAndDestroyed) {
  Loop loop;
  LoopChannel channel(loop);
  auto sender = channel.sender();
  auto captured = std::make_shared<int>(7);
  bool ran = false;
  channel.close();
  channel.close();  // twice is fine
  EXPECT_FALSE(sender.post([&ran, captured] { ran = true; }));
  EXPECT_EQ(captured.use_count(), 1) << "the dropped function still holds what it captured";
  loop.run();
  EXPECT_FALSE(ran);
}

TEST(LoopChannel, QueuedFunctionsAreDroppedWhenTheChannelIsDestroyed) {
  Loop loop;
  auto channel = std::make_unique<LoopChannel>(loop);
  auto sender = channel->sender();
  bool ran = false;
  EXPECT_TRUE(sender.post([&] { ran = true; }));
  channel.reset();  // before the loop ran it
  EXPECT_FALSE(sender.post([&] { ran = true; })) << "a Sender outlives its channel safely";
  loop.run();
  EXPECT_FALSE(ran);
}

TEST(LoopChannel, AnEmptySenderRefusesPosts) {
  LoopChannel::Sender nobody;
  EXPECT_FALSE(nobody.post([] {}));
}

}  // namespace
}  // namespace popgate::io
