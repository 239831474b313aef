// Loop: the libuv loop, its deferred-work queue and the teardown that leaves nothing behind.
#include "gateway/io/loop.h"

#include <signal.h>

#include <cassert>
#include <cstdlib>
#include <optional>
#include <utility>

namespace popgate::io {

namespace {

// libuv writes with write(2), not send(MSG_NOSIGNAL): a write to a connection the peer
// reset would kill the process with SIGPIPE instead of failing with EPIPE. A handler
// someone installed on purpose is left alone.
void ignore_sigpipe() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) return;
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);
}

}  // namespace

Loop::Loop() : read_buffer_(new char[kReadBufferSize]) {
  ignore_sigpipe();
  // Failing here means the process cannot create an epoll fd or an eventfd: nothing
  // useful can run, and a constructor has no result to report it in.
  if (uv_loop_init(&loop_) != 0) std::abort();
  if (uv_async_init(&loop_, &deferred_handle_, &Loop::on_deferred) != 0) std::abort();
  deferred_handle_.data = this;
  // Deferred work must not keep an otherwise idle loop running; run() drains what is left.
  uv_unref(reinterpret_cast<uv_handle_t*>(&deferred_handle_));
}

Loop::~Loop() {
  // Destroying deferred functions (and objects) may destroy what they hold, which may defer more.
  for (;;) {
    std::vector<Deferred> pending;
    {
      std::lock_guard lock(deferred_mutex_);
      pending.swap(deferred_);
      if (pending.empty()) {
        closing_ = true;
        break;
      }
    }
  }
  std::vector<Lingering*> lingering(lingering_.begin(), lingering_.end());
  for (Lingering* item : lingering) item->force_close();
  uv_close(reinterpret_cast<uv_handle_t*>(&deferred_handle_), nullptr);
  // Whatever is still open belongs to an owner that outlives the loop (a bug); don't
  // wait for it. Requests (a getaddrinfo on the threadpool) and closing handles must
  // finish, or libuv would later touch freed memory.
  uv_walk(
      &loop_, [](uv_handle_t* handle, void*) { uv_unref(handle); }, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  [[maybe_unused]] int rc = uv_loop_close(&loop_);
  assert(rc == 0 && "a libuv handle outlives its Loop");
}

void Loop::run() {
  for (;;) {
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (stop_requested_) break;
    // The loop ran dry; work deferred in its last callbacks may start new handles.
    if (!run_deferred()) break;
  }
  stop_requested_ = false;
}

void Loop::run_nowait() {
  uv_run(&loop_, UV_RUN_NOWAIT);
  // With nothing else referenced, uv_run does not even poll the unreferenced async handle.
  run_deferred();
}

void Loop::stop() {
  stop_requested_ = true;
  uv_stop(&loop_);
}

void Loop::defer(std::function<void()> fn) {
  if (fn) enqueue(Deferred{std::move(fn)});
}

void Loop::enqueue(Deferred item) {
  std::optional<Deferred> dropped;  // destroyed outside the lock: it may defer in turn
  {
    std::lock_guard lock(deferred_mutex_);
    if (closing_) {
      dropped = std::move(item);
    } else {
      deferred_.push_back(std::move(item));
    }
  }
  if (!dropped) uv_async_send(&deferred_handle_);
}

void Loop::on_deferred(uv_async_t* handle) {
  static_cast<Loop*>(handle->data)->run_deferred();
}

bool Loop::run_deferred() {
  std::vector<Deferred> batch;
  {
    std::lock_guard lock(deferred_mutex_);
    batch.swap(deferred_);
  }
  // Work deferred by this batch goes to the next iteration, after this batch. The objects to
  // delete go with the batch, once all of its work has run.
  for (auto& item : batch) {
    if (item.work) item.work();
  }
  return !batch.empty();
}

}  // namespace popgate::io
