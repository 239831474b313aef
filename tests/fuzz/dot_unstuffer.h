// DotUnstuffer: the client side of a POP3 multi-line body (RFC 1939 §3), for checking DotStuffer.
//
// Strips the stuffed "." of each line, stops at the "." line, and reports as Malformed anything a
// conforming server never sends: a bare LF, a line starting with one "." that is not the
// terminator, or any octet after the terminator. Fed in chunks of any size.
#pragma once

#include <string>
#include <string_view>

namespace popgate::fuzz {

class DotUnstuffer {
 public:
  enum class Status { InBody, Complete, Malformed };

  // Appends the body octets of `chunk` to `out`; CRLF line ends are kept.
  Status feed(std::string_view chunk, std::string& out);
  Status status() const { return status_; }

 private:
  enum class Position {
    LineStart,   // the previous octets ended a line (or nothing came yet)
    AfterDot,    // a line started with "."
    AfterDotCr,  // ".\r": only LF may follow, ending the body
    InLine,      // inside a line
    AfterCr,     // a CR inside a line: CRLF ends the line, anything else makes it a bare CR
  };

  bool step(char c, std::string& out);

  Position position_ = Position::LineStart;
  Status status_ = Status::InBody;
};

}  // namespace popgate::fuzz
