#include "benchmarks/loadgen/pop3_body_scanner.h"

#include <cstring>

namespace popgate::bench {

size_t Pop3BodyScanner::scan(const char* data, size_t size, bool& done) {
  size_t i = 0;
  while (i < size) {
    if (at_line_start_ || dot_state_ > 0) {
      const char c = data[i];
      if (dot_state_ == 0 && c == '.') {
        dot_state_ = 1;
        at_line_start_ = false;
        ++i;
        continue;
      }
      if (dot_state_ == 1 && c == '\r') {
        dot_state_ = 2;
        ++i;
        continue;
      }
      if (dot_state_ == 2 && c == '\n') {
        reset();
        done = true;
        return i + 1;
      }
      dot_state_ = 0;
      at_line_start_ = false;
    }
    const void* lf = std::memchr(data + i, '\n', size - i);
    if (!lf) return size;
    i = static_cast<size_t>(static_cast<const char*>(lf) - data) + 1;
    at_line_start_ = true;
  }
  return size;
}

}  // namespace popgate::bench
