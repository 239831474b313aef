// Loop: owns the libuv loop, a shared read buffer, and a queue of work deferred to the next tick.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_set>
#include <vector>

namespace popgate::io {

// Monotonic nanoseconds for timing an operation (metrics), unlike Loop::now_ms() not cached per
// loop iteration; and the seconds elapsed since such a reading.
inline uint64_t monotonic_ns() {
  return uv_hrtime();
}
inline double seconds_since(uint64_t began_ns) {
  return static_cast<double>(monotonic_ns() - began_ns) / 1e9;
}

class Loop {
 public:
  // Also sets SIGPIPE to ignored (if it still has the default action): a peer that
  // resets a connection must fail that write with EPIPE, not kill the process.
  Loop();
  // Drops deferred work without running it, destroys the objects queued for deletion
  // (and those their destructors queue), force-closes lingering connections, waits
  // for libuv to finish with every request and closing handle, then closes the loop.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return &loop_; }
  // Runs until stop() or until nothing is left to do. Deferred work queued before the
  // loop ran dry still runs. Loop thread only, like stop().
  void run();
  // One iteration that never blocks, then any deferred work: for tests and embedders
  // that drive the loop themselves.
  void run_nowait();
  void stop();
  uint64_t now_ms() { return uv_now(&loop_); }

  // Runs `fn` on the next loop iteration, never inside the current call stack. Used to
  // destroy an object whose callback is still on the stack (Dovecot's client_disconnect).
  // Safe to call from any thread; pending work alone does not keep run() from returning.
  void defer(std::function<void()> fn);

  // Destroys `object` on the next loop iteration, never inside the current call stack: for an
  // object one of whose callbacks may be running (Envoy's Dispatcher::deferredDelete). It goes
  // after the work of its iteration has run, in the order queued; what its destructor queues in
  // turn goes on a later iteration. ~Loop destroys whatever is still queued. Any thread, like defer().
  template <typename T>
  void deferred_delete(std::unique_ptr<T> object) {
    static_assert(sizeof(T) > 0, "deferred_delete needs the complete type");
    if (!object) return;
    enqueue(
        Deferred{nullptr, Doomed(object.release(), [](void* doomed) { delete static_cast<T*>(doomed); })});
  }

  // One read buffer for every stream of this loop: read callbacks consume their data
  // before returning, so an idle connection holds no buffer of its own.
  std::span<char> read_buffer() { return {read_buffer_.get(), kReadBufferSize}; }
  static constexpr size_t kReadBufferSize = 64 * 1024;

  // For gateway/io internals: something that keeps closing after its C++ owner is gone
  // (an ended connection flushing or lingering). ~Loop force-closes whatever is left so
  // nothing leaks and no handle outlives the loop. Loop thread only.
  class Lingering {
   public:
    virtual void force_close() = 0;

   protected:
    ~Lingering() = default;
  };
  void add_lingering(Lingering* item) { lingering_.insert(item); }
  void remove_lingering(Lingering* item) { lingering_.erase(item); }

 private:
  // One queued item: work to run, or an object to destroy with its batch (deferred_delete).
  using Doomed = std::unique_ptr<void, void (*)(void*)>;
  struct Deferred {
    std::function<void()> work;
    Doomed doomed{nullptr, nullptr};
  };

  void enqueue(Deferred item);
  static void on_deferred(uv_async_t* handle);
  // Runs the work queued so far; false if there was none.
  bool run_deferred();

  uv_loop_t loop_;
  uv_async_t deferred_handle_;
  std::mutex deferred_mutex_;  // guards deferred_ and closing_
  std::vector<Deferred> deferred_;
  bool closing_ = false;  // the destructor runs: what is queued now is dropped (destroyed) at once
  bool stop_requested_ = false;
  std::unordered_set<Lingering*> lingering_;
  std::unique_ptr<char[]> read_buffer_;
};

}  // namespace popgate::io
