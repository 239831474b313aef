// Timer: a one-shot uv_timer_t whose callback may destroy the Timer itself.
#include "gateway/io/timer.h"

#include <cstdlib>
#include <utility>

namespace popgate::io {

namespace {

void free_timer(uv_handle_t* handle) {
  delete reinterpret_cast<uv_timer_t*>(handle);
}

}  // namespace

Timer::Timer(Loop& loop) : handle_(new uv_timer_t) {
  // uv_timer_init cannot fail on a live loop.
  if (uv_timer_init(loop.raw(), handle_) != 0) std::abort();
  handle_->data = this;
}

Timer::~Timer() {
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), free_timer);  // also stops it
}

void Timer::start(uint64_t timeout_ms, std::function<void()> fn) {
  fn_ = std::move(fn);
  uv_timer_start(
      handle_,
      [](uv_timer_t* handle) {
        auto* self = static_cast<Timer*>(handle->data);
        if (self == nullptr) return;
        // Moved out first: the callback may destroy this Timer or re-arm it.
        std::function<void()> fn = std::move(self->fn_);
        self->fn_ = nullptr;
        if (fn) fn();
      },
      timeout_ms, 0);
}

void Timer::stop() {
  uv_timer_stop(handle_);
  // Released after the member is cleared: its destructor may call back into this Timer.
  std::function<void()> released = std::move(fn_);
  fn_ = nullptr;
}

bool Timer::active() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_)) != 0;
}

}  // namespace popgate::io
