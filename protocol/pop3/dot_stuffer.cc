// DotStuffer: CRLF normalisation and dot-stuffing of a streamed message body (RFC 1939 §3).
#include "protocol/pop3/dot_stuffer.h"

#include <algorithm>
#include <cstring>

namespace popgate::pop3 {

namespace {
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kTerminator = ".\r\n";

// The position of the next CR or LF at or after `from` within a bounded window, or the window's end
// (the caller just copies up to there and goes on). Two memchr calls per line: string_view's
// find_first_of calls memchr once per octet (benchmarks/README.md). The window keeps a body full of
// bare CRs from rescanning the whole chunk once per CR.
size_t next_line_break(std::string_view chunk, size_t from) {
  constexpr size_t kWindow = 1024;
  const char* begin = chunk.data() + from;
  const size_t left = std::min(chunk.size() - from, kWindow);
  const void* lf = std::memchr(begin, '\n', left);
  const size_t limit = lf ? static_cast<size_t>(static_cast<const char*>(lf) - begin) : left;
  const void* cr = std::memchr(begin, '\r', limit);
  return from + (cr ? static_cast<size_t>(static_cast<const char*>(cr) - begin) : limit);
}
}  // namespace

void DotStuffer::feed(std::string_view chunk, std::string& out) {
  out.reserve(out.size() + chunk.size() + kCrlf.size());
  size_t i = 0;
  while (i < chunk.size()) {
    if (after_cr_) {
      // The CR was held back: only the next octet, maybe in a later chunk, tells
      // whether it starts a CRLF or is a bare CR to pass through as it is.
      after_cr_ = false;
      if (chunk[i] == '\n') {
        out += kCrlf;
        message_octets_ += kCrlf.size();
        at_line_start_ = true;
        ++i;
        continue;
      }
      out += '\r';
      ++message_octets_;
      at_line_start_ = false;
    }
    const char c = chunk[i];
    if (c == '\r') {
      after_cr_ = true;
      ++i;
      continue;
    }
    if (c == '\n') {  // a bare LF ends a line too; the wire form needs CRLF
      out += kCrlf;
      message_octets_ += kCrlf.size();
      at_line_start_ = true;
      ++i;
      continue;
    }
    // RFC 1939 §3: a line starting with "." is sent with one more ".".
    if (at_line_start_ && c == '.') out += '.';
    // Copy the run of ordinary octets up to the next line-break candidate in one go.
    const size_t end = next_line_break(chunk, i);
    out.append(chunk.substr(i, end - i));
    message_octets_ += end - i;
    at_line_start_ = false;
    i = end;
  }
}

void DotStuffer::finish(std::string& out) {
  if (after_cr_) {  // a CR as the very last octet has no LF to pair with: it is bare
    after_cr_ = false;
    out += '\r';
    ++message_octets_;
    at_line_start_ = false;
  }
  // The CRLF added here is framing for the terminator, not message content, so
  // message_octets() does not count it.
  if (!at_line_start_) out += kCrlf;
  out += kTerminator;  // RFC 1939 §3: the multi-line response ends with "." CRLF
  at_line_start_ = true;
}

}  // namespace popgate::pop3
