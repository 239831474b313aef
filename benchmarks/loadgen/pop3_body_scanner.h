// Finds the end of a POP3 multi-line body (the ".CRLF" line, RFC 1939 §3) in chunks as they arrive,
// without copying them: one memchr per line. Both load generator clients use it, so a POP3 body costs
// the client about what skipping an IMAP literal of the same size does.
#pragma once

#include <cstddef>

namespace popgate::bench {

class Pop3BodyScanner {
 public:
  // Consumes up to and including the terminating ".CRLF"; returns the octets consumed and sets
  // `done` when the terminator was among them. Call again with the rest after a partial chunk.
  size_t scan(const char* data, size_t size, bool& done);
  // Back to the start of a body.
  void reset() { *this = Pop3BodyScanner{}; }

 private:
  bool at_line_start_ = true;
  int dot_state_ = 0;  // at a line start: 1 after ".", 2 after ".\r"
};

}  // namespace popgate::bench
