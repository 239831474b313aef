// TcpConnector: resolves a host name without blocking (uv_getaddrinfo) and connects.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/io/loop.h"
#include "gateway/io/transport.h"
#include "protocol/common/result.h"

namespace popgate::io {

class ConnectOperation {
 public:
  virtual ~ConnectOperation() = default;  // destroying it cancels: the callback never runs
};
using ConnectOperationPtr = std::unique_ptr<ConnectOperation>;

using ConnectDone = std::function<void(Result<TransportPtr>)>;

// Tries each resolved address in turn until one connects or `timeout_ms` passes.
// Failures are ErrorKind::Temporary with a reason ("connection refused", "timed out",
// "name not resolved"). The callback runs at most once, never inside this call.
// A `timeout_ms` of 0 means no overall timeout.
ConnectOperationPtr connect_tcp(Loop& loop, std::string host, uint16_t port, uint64_t timeout_ms,
                                ConnectDone done, Watermarks watermarks = {});

}  // namespace popgate::io
