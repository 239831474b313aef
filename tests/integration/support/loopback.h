// Loopback TCP helpers for fixtures: pick a free port, wait until a port accepts, connect.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace popgate::integration {

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
// Callers that lose the race retry with another one.
uint16_t free_port();

// Polls until 127.0.0.1:port accepts a connection or the timeout passes. `still_alive`,
// when given, is consulted between polls so a crashed server fails fast.
bool wait_for_port(uint16_t port, std::chrono::milliseconds timeout,
                   const std::function<bool()>& still_alive = {});

// A connected, blocking TCP socket to 127.0.0.1:port; throws std::runtime_error on failure.
int connect_loopback(uint16_t port);

}  // namespace popgate::integration
