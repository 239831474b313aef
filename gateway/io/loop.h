// Loop: owns the libuv loop, a shared read buffer, and a queue of work deferred to the next tick.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <uv.h>

namespace popgate::io {

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return &loop_; }
  void run();
  void stop();
  uint64_t now_ms() { return uv_now(&loop_); }

  // Runs `fn` on the next loop iteration, never inside the current call stack. Used to
  // destroy an object whose callback is still on the stack (Dovecot's client_disconnect).
  void defer(std::function<void()> fn);

  // One read buffer for every stream of this loop: read callbacks consume their data
  // before returning, so an idle connection holds no buffer of its own.
  std::span<char> read_buffer() { return {read_buffer_.get(), kReadBufferSize}; }
  static constexpr size_t kReadBufferSize = 64 * 1024;

 private:
  static void on_deferred(uv_async_t* handle);

  uv_loop_t loop_;
  uv_async_t deferred_handle_;
  std::vector<std::function<void()>> deferred_;
  std::unique_ptr<char[]> read_buffer_;
};

}  // namespace popgate::io
