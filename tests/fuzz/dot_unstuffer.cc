// DotUnstuffer: POP3 multi-line body decoding, one octet at a time (RFC 1939 §3).
#include "tests/fuzz/dot_unstuffer.h"

namespace popgate::fuzz {

DotUnstuffer::Status DotUnstuffer::feed(std::string_view chunk, std::string& out) {
  for (const char c : chunk) {
    if (status_ != Status::InBody) {
      status_ = Status::Malformed;  // nothing may follow the terminator
      break;
    }
    if (!step(c, out)) status_ = Status::Malformed;
  }
  return status_;
}

// False when `c` cannot come next in a well-formed multi-line body.
bool DotUnstuffer::step(char c, std::string& out) {
  switch (position_) {
    case Position::LineStart:
      if (c == '.') {
        position_ = Position::AfterDot;
        return true;
      }
      if (c == '\n') return false;
      if (c == '\r') {
        position_ = Position::AfterCr;
        return true;
      }
      out += c;
      position_ = Position::InLine;
      return true;
    case Position::AfterDot:
      if (c == '.') {  // a stuffed dot: the line's own "." follows
        out += '.';
        position_ = Position::InLine;
        return true;
      }
      if (c == '\r') {
        position_ = Position::AfterDotCr;
        return true;
      }
      return false;  // an unstuffed "." starting a line of text
    case Position::AfterDotCr:
      if (c != '\n') return false;
      status_ = Status::Complete;
      return true;
    case Position::InLine:
      if (c == '\n') return false;  // a bare LF: the server must send CRLF
      if (c == '\r') {
        position_ = Position::AfterCr;
      } else {
        out += c;
      }
      return true;
    case Position::AfterCr:
      if (c == '\n') {
        out += "\r\n";
        position_ = Position::LineStart;
        return true;
      }
      out += '\r';  // the held CR was bare
      if (c == '\r') return true;
      out += c;
      position_ = Position::InLine;
      return true;
  }
  return false;
}

}  // namespace popgate::fuzz
