// WorkerCredentialSource: the fetch runs on the home loop's thread, the answer arrives on the
// worker loop's, and a handle destroyed early cancels both sides.
#include "gateway/workers/worker_credential_source.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "gateway/io/loop.h"
#include "gateway/io/loop_channel.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate {
namespace {

using io::testing::run_until;

// A source whose fetch the test answers by hand, on the home loop.
class ScriptedSource final : public CredentialSource {
 public:
  struct Pending final : PendingFetch {
    explicit Pending(ScriptedSource& source) : source_(source) {}
    ~Pending() override {
      ++source_.cancelled_or_finished;
      source_.done = nullptr;
    }
    ScriptedSource& source_;
  };
  PendingFetchPtr fetch(Done answer) override {
    fetch_thread = std::this_thread::get_id();
    ++fetches;
    done = std::move(answer);
    return std::make_unique<Pending>(*this);
  }
  CredentialKind kind() const override { return CredentialKind::BearerToken; }

  Done done;
  std::atomic<int> fetches{0};
  std::atomic<int> cancelled_or_finished{0};
  std::thread::id fetch_thread;
};

// A worker loop on a thread of its own, stopped by a message through its inbox.
class WorkerLoopThread {
 public:
  WorkerLoopThread() {
    std::promise<void> ready;
    thread_ = std::thread([this, &ready] {
      io::Loop loop;
      io::LoopChannel inbox(loop);
      inbox_ = &inbox;
      sender_ = inbox.sender();
      id_ = std::this_thread::get_id();
      ready.set_value();
      loop.run();  // until the inbox closes
    });
    ready.get_future().wait();
  }
  ~WorkerLoopThread() {
    sender_.post([this] { inbox_->close(); });
    thread_.join();
  }
  const io::LoopChannel::Sender& sender() const { return sender_; }
  std::thread::id id() const { return id_; }

 private:
  io::LoopChannel* inbox_ = nullptr;  // the worker thread's
  io::LoopChannel::Sender sender_;
  std::thread::id id_;
  std::thread thread_;
};

// The home loop (where the inner source lives) runs on the test's thread.
class WorkerCredentialSourceTest : public ::testing::Test {
 protected:
  // Runs `fn` on the worker loop and waits for it, running the home loop meanwhile. Whatever `fn`
  // posts home arrives before this returns (one sender, one order).
  void on_worker(std::function<void()> fn) {
    bool done = false;
    worker_.sender().post([fn = std::move(fn), home = home_inbox_.sender(), &done] {
      fn();
      home.post([&done] { done = true; });
    });
    ASSERT_TRUE(run_until(home_, [&] { return done; }));
  }

  io::Loop home_;
  io::LoopChannel home_inbox_{home_};
  WorkerLoopThread worker_;
  std::shared_ptr<ScriptedSource> inner_ = std::make_shared<ScriptedSource>();
  WorkerCredentialSource source_{inner_, home_inbox_.sender(), worker_.sender()};
  PendingFetchPtr pending_;  // touched on the worker loop only
  // Written on the worker loop, read here after a round trip through the home inbox.
  std::optional<std::string> answer_;
  std::thread::id answered_on_;
  int answers_ = 0;
  // Each answer also wakes the home loop, so a test can wait for it there.
  bool answered_ = false;

  void fetch_on_worker() {
    on_worker([this, home = home_inbox_.sender()] {
      pending_ = source_.fetch([this, home](Result<SecretString> result) {
        ++answers_;
        answered_on_ = std::this_thread::get_id();
        answer_ = result ? std::string(result.value().reveal()) : "error";
        home.post([this] { answered_ = true; });
      });
    });
  }
};

TEST_F(WorkerCredentialSourceTest, FetchesOnTheHomeLoopAndAnswersOnTheWorkerLoop) {
  fetch_on_worker();
  ASSERT_TRUE(run_until(home_, [&] { return inner_->fetches.load() == 1; }));
  EXPECT_EQ(inner_->fetch_thread, std::this_thread::get_id()) << "the inner fetch ran off the home loop";
  inner_->done(SecretString("access-token"));
  ASSERT_TRUE(run_until(home_, [&] { return answered_; }));
  EXPECT_EQ(answers_, 1);
  EXPECT_EQ(answer_, "access-token");
  EXPECT_EQ(answered_on_, worker_.id()) << "the answer ran off the worker loop";
  // Done with it: the inner fetch's handle goes on the home loop.
  on_worker([this] { pending_.reset(); });
  EXPECT_TRUE(run_until(home_, [&] { return inner_->cancelled_or_finished.load() == 1; }));
}

TEST_F(WorkerCredentialSourceTest, ASessionGoneAtOnceGetsNoAnswerAndLeavesNoFetchRunning) {
  on_worker([this] {
    pending_ = source_.fetch([this](Result<SecretString>) { ++answers_; });
    pending_.reset();
  });
  // The home loop runs meanwhile: it may have started the inner fetch before the worker
  // cancelled (then the cancel drops it there), or found the call cancelled and fetched nothing.
  // Either way the session hears nothing and no fetch is left running.
  ASSERT_TRUE(
      run_until(home_, [&] { return inner_->fetches.load() == inner_->cancelled_or_finished.load(); }));
  EXPECT_LE(inner_->fetches.load(), 1);
  on_worker([] {});
  EXPECT_EQ(answers_, 0);
}

TEST_F(WorkerCredentialSourceTest, ASessionGoneWhileTheFetchRunsGetsNoCallbackAndCancelsIt) {
  fetch_on_worker();
  ASSERT_TRUE(run_until(home_, [&] { return inner_->fetches.load() == 1; }));
  CredentialSource::Done late = inner_->done;  // the token manager answers after the cancel
  on_worker([this] { pending_.reset(); });
  EXPECT_EQ(inner_->cancelled_or_finished.load(), 1) << "the inner fetch was not cancelled";
  late(SecretString("too-late"));
  on_worker([] {});  // whatever the late answer posted to the worker has run by now
  EXPECT_EQ(answers_, 0);
  EXPECT_FALSE(answer_.has_value());
}

TEST(WorkerCredentialSourceSameThread, KindIsTheInnerSources) {
  io::Loop loop;
  io::LoopChannel channel(loop);
  WorkerCredentialSource source(std::make_shared<ScriptedSource>(), channel.sender(), channel.sender());
  EXPECT_EQ(source.kind(), CredentialKind::BearerToken);
}

}  // namespace
}  // namespace popgate
