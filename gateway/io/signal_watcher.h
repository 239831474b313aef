// SignalWatcher: RAII owner of a uv_signal_t that runs a callback on the loop.
#pragma once

#include <functional>

#include "gateway/io/loop.h"

namespace popgate::io {

class SignalWatcher {
 public:
  SignalWatcher(Loop& loop, int signum, std::function<void()> fn);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  uv_signal_t* handle_;
  std::function<void()> fn_;
};

}  // namespace popgate::io
