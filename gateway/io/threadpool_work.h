// run_on_threadpool: a blocking job (a password hash, a file write) on libuv's threadpool, and
// its completion back on the loop thread, cancellable by its owner.
#pragma once

#include <functional>
#include <memory>

#include "gateway/io/loop.h"

namespace popgate::io {

// The handle of one job. Destroying it (on the loop thread) cancels the completion: `done`
// never runs afterwards, and is destroyed on the loop thread. The job itself is not cancelled:
// one already running cannot be stopped, and one still queued runs all the same (a token write
// must not be lost because its owner went away).
class ThreadpoolWork {
 public:
  virtual ~ThreadpoolWork() = default;
};
using ThreadpoolWorkPtr = std::unique_ptr<ThreadpoolWork>;

// Runs `work` on a threadpool thread, then `done` on the loop thread, never inside this call.
// `work` touches only what it captured; both functions are destroyed on the loop thread.
// `done` may destroy the handle, or start another job.
[[nodiscard]] ThreadpoolWorkPtr run_on_threadpool(Loop& loop, std::function<void()> work,
                                                  std::function<void()> done);

}  // namespace popgate::io
