// TopFilter: cuts a streamed message after its header and the first m body lines (RFC 1939 §7).
#include "protocol/pop3/top_filter.h"

namespace popgate::pop3 {

size_t TopFilter::feed(std::string_view chunk) {
  if (done_) return 0;
  for (size_t i = 0; i < chunk.size(); ++i) {
    const char c = chunk[i];
    if (in_body_) {
      if (c != '\n') continue;
      // Each body line is passed with its line ending; the limit is reached at its LF.
      if (--body_lines_left_ == 0) {
        done_ = true;
        return i + 1;
      }
      continue;
    }
    if (c == '\n') {
      if (line_empty_so_far_) {
        // RFC 5322 §2.1: the first empty line (CRLF, or a bare LF) ends the header.
        in_body_ = true;
        if (body_lines_left_ == 0) {  // TOP n 0: the header and the blank line only
          done_ = true;
          return i + 1;
        }
      }
      line_empty_so_far_ = true;
    } else if (c != '\r') {
      line_empty_so_far_ = false;
    }
  }
  return chunk.size();
}

}  // namespace popgate::pop3
