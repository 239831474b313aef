// Timer: RAII owner of a uv_timer_t. Destroying it stops it; no callback runs afterwards.
#pragma once

#include <cstdint>
#include <functional>

#include "gateway/io/loop.h"

namespace popgate::io {

class Timer {
 public:
  explicit Timer(Loop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer: `fn` runs once after `timeout_ms`.
  void start(uint64_t timeout_ms, std::function<void()> fn);
  void stop();
  bool active() const;

 private:
  uv_timer_t* handle_;  // freed in its close callback
  std::function<void()> fn_;
};

}  // namespace popgate::io
