// DotStuffer: turns a message body, in chunks of any size, into a POP3 multi-line body.
//
// RFC 1939 §3: lines end in CRLF, a line starting with "." gets one more ".", and the
// response ends with ".\r\n" on a line of its own. Bare LF becomes CRLF; a bare CR is kept.
// Two flags of state carry a line break or a line start across chunk boundaries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace popgate::pop3 {

class DotStuffer {
 public:
  // Appends the wire form of `chunk` to `out`.
  void feed(std::string_view chunk, std::string& out);
  // Appends the terminator: a CRLF first when the body did not end with a line break.
  void finish(std::string& out);
  // Octets of the message after CRLF normalisation, before stuffing: what LIST promised.
  uint64_t message_octets() const { return message_octets_; }

 private:
  bool at_line_start_ = true;  // the next octet starts a line
  bool after_cr_ = false;      // the previous octet (maybe in the previous chunk) was a CR
  uint64_t message_octets_ = 0;
};

}  // namespace popgate::pop3
