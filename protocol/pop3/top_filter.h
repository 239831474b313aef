// TopFilter: decides how much of a message TOP n m sends (RFC 1939 §7).
//
// TOP sends the header, the blank line after it, and the first m lines of the body.
// The filter only ever cuts, so it reports how many octets of each chunk to pass on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace popgate::pop3 {

class TopFilter {
 public:
  explicit TopFilter(uint64_t body_lines) : body_lines_left_(body_lines) {}
  // Returns how many leading octets of `chunk` belong to the TOP output.
  // Once done() is true, every later chunk yields 0.
  size_t feed(std::string_view chunk);
  bool done() const { return done_; }

 private:
  uint64_t body_lines_left_;
  bool in_body_ = false;
  bool line_empty_so_far_ = true;  // the current header line has no octet but CR yet
  bool done_ = false;
};

}  // namespace popgate::pop3
