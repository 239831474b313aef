// The classes of failure every layer reports, and which POP3 response code each becomes.
#pragma once

#include <cstdint>
#include <string>

namespace popgate {

// RFC 3206 / RFC 2449 response codes follow from the class, not from the text.
enum class ErrorKind {
  Auth,       // credentials refused: -ERR [AUTH]
  Temporary,  // upstream down, timed out, failed mid-operation: -ERR [SYS/TEMP]
  Permanent,  // configuration or mailbox problem retrying will not fix: -ERR [SYS/PERM]
  InUse,      // maildrop already locked by another session: -ERR [IN-USE]
  LoginDelay, // too many failed logins, or the upstream throttles us: -ERR [LOGIN-DELAY] (RFC 2449 §8.1.1)
  NotFound,   // the message vanished upstream during the session: plain -ERR
  Protocol,   // the peer broke the protocol (malformed upstream reply): -ERR [SYS/TEMP]
  Internal,   // a bug in popgate: -ERR [SYS/TEMP]
};

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  // For the log only: already sanitised, never sent to the POP3 client.
  std::string detail;
  // When the peer said how long to wait (HTTP Retry-After, a throttling answer); 0 if it did not.
  uint64_t retry_after_ms = 0;
};

const char* to_string(ErrorKind kind);

}  // namespace popgate
