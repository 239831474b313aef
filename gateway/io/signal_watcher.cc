// SignalWatcher: a uv_signal_t that does not by itself keep the loop running.
#include "gateway/io/signal_watcher.h"

#include <cstdlib>

namespace popgate::io {

namespace {

void free_signal(uv_handle_t* handle) {
  delete reinterpret_cast<uv_signal_t*>(handle);
}

}  // namespace

SignalWatcher::SignalWatcher(Loop& loop, int signum, std::function<void()> fn)
    : handle_(new uv_signal_t), fn_(std::move(fn)) {
  if (uv_signal_init(loop.raw(), handle_) != 0) std::abort();
  handle_->data = this;
  // Fails only for an invalid signal number, a programming error.
  if (uv_signal_start(
          handle_,
          [](uv_signal_t* handle, int) {
            auto* self = static_cast<SignalWatcher*>(handle->data);
            if (self == nullptr) return;
            // A copy: the callback may destroy this watcher (and with it fn_).
            std::function<void()> fn = self->fn_;
            if (fn) fn();
          },
          signum) != 0) {
    std::abort();
  }
  // Unreferenced: watching SIGTERM must not keep a loop alive whose work is done, or
  // run() would never return once the last connection and listener are gone.
  uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
}

SignalWatcher::~SignalWatcher() {
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), free_signal);
}

}  // namespace popgate::io
