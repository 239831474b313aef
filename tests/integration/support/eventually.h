// eventually(): polls a condition that another process makes true, instead of sleeping for a
// guessed time.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace popgate::integration {

// True as soon as `done()` is, false once `timeout` has passed without it (polling every 50 ms).
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace popgate::integration
