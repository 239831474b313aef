// LoopChannel: lets any thread run a function on one loop, and keeps that loop running while open.
//
// Worker loops talk to each other through these and nothing else (nginx's channel, Envoy's
// Dispatcher::post): the main loop posts reconfigure, drain and stop to a worker; the worker posts
// "drained" back. A Sender may outlive its channel: posting to a closed channel drops the function.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "gateway/io/loop.h"

namespace popgate::io {

class LoopChannel {
 private:
  struct State;

 public:
  // A copyable handle for other threads.
  class Sender {
   public:
    Sender() = default;
    // Runs `fn` on the channel's loop thread, after every function posted before it (by this
    // thread), never inside this call. False once the channel is closed (or for an empty Sender):
    // `fn` is then destroyed here, unrun.
    bool post(std::function<void()> fn) const;

   private:
    friend class LoopChannel;
    explicit Sender(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
  };

  // Loop thread (or before the loop runs). Unlike Loop::defer, an open channel keeps run() from
  // returning: a worker loop stays up between its last session and its stop message.
  explicit LoopChannel(Loop& loop);
  ~LoopChannel();  // close()
  LoopChannel(const LoopChannel&) = delete;
  LoopChannel& operator=(const LoopChannel&) = delete;

  Sender sender() const { return Sender(state_); }
  bool post(std::function<void()> fn) const { return sender().post(std::move(fn)); }
  // Loop thread. Functions still queued are dropped unrun; later posts fail. Safe to call twice.
  void close();

 private:
  static void on_async(uv_async_t* handle);

  std::shared_ptr<State> state_;
};

}  // namespace popgate::io
