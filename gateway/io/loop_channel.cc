// LoopChannel: a uv_async_t owned by the loop thread plus a mutex-guarded queue any thread appends to.
#include "gateway/io/loop_channel.h"

#include <cstdlib>
#include <utility>

namespace popgate::io {

struct LoopChannel::State {
  std::mutex mutex;  // guards everything below
  // Null once closed. uv_async_send on it happens under the mutex, and close() nulls it under the
  // mutex before uv_close: no thread can signal a handle that is closing.
  uv_async_t* handle = nullptr;
  std::vector<std::function<void()>> queue;
};

bool LoopChannel::Sender::post(std::function<void()> fn) const {
  if (!fn) return false;
  if (!state_) return false;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->handle != nullptr) {
      state_->queue.push_back(std::move(fn));
      uv_async_send(state_->handle);
      return true;
    }
  }
  return false;  // `fn` is destroyed on return, outside the lock: it may post in turn
}

LoopChannel::LoopChannel(Loop& loop) : state_(std::make_shared<State>()) {
  auto* handle = new uv_async_t;
  // Only fails without file descriptors (the eventfd is the loop's own): nothing can run then.
  if (uv_async_init(loop.raw(), handle, &LoopChannel::on_async) != 0) std::abort();
  handle->data = state_.get();
  state_->handle = handle;
}

LoopChannel::~LoopChannel() {
  close();
}

void LoopChannel::close() {
  uv_async_t* handle = nullptr;
  std::vector<std::function<void()>> dropped;  // destroyed outside the lock
  {
    std::lock_guard lock(state_->mutex);
    handle = std::exchange(state_->handle, nullptr);
    dropped.swap(state_->queue);
  }
  if (handle == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* closed) { delete reinterpret_cast<uv_async_t*>(closed); });
}

void LoopChannel::on_async(uv_async_t* handle) {
  // The handle's callback only runs while it is open, and close() (loop thread, like this) is
  // what ends the State's use here: data is valid.
  auto* state = static_cast<State*>(handle->data);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(state->mutex);
    batch.swap(state->queue);
  }
  // A function may close the channel: the rest of the batch still runs (it was posted while open).
  for (auto& fn : batch) fn();
}

}  // namespace popgate::io
