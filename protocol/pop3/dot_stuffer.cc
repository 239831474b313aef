// DotStuffer: CRLF normalisation and dot-stuffing of a streamed message body (RFC 1939 §3).
#include "protocol/pop3/dot_stuffer.h"

#include <cstring>

namespace popgate::pop3 {

namespace {
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kTerminator = ".\r\n";
}  // namespace

// Mail is almost all CRLF lines that do not start with ".", which go out unchanged. So the loop
// only visits line feeds (one memchr each) and copies the octets between the places that need a
// change (a bare LF, a line starting with ".") in one append: for a well-formed body, one append
// per chunk. A CR needs nothing: before an LF it is the CRLF, elsewhere a bare CR goes out as it is.
void DotStuffer::feed(std::string_view chunk, std::string& out) {
  if (chunk.empty()) return;
  out.reserve(out.size() + chunk.size() + kCrlf.size());
  message_octets_ += chunk.size();
  const char* const data = chunk.data();
  const size_t size = chunk.size();
  size_t copied = 0;  // chunk[copied, ...) is not in `out` yet
  // RFC 1939 §3: a line starting with "." is sent with one more ".".
  if (at_line_start_ && data[0] == '.') out += '.';
  size_t i = 0;
  while (i < size) {
    const void* found = std::memchr(data + i, '\n', size - i);
    if (found == nullptr) break;
    const size_t lf = static_cast<size_t>(static_cast<const char*>(found) - data);
    const bool after_cr = lf > 0 ? data[lf - 1] == '\r' : after_cr_;
    if (!after_cr) {  // a bare LF ends a line too; the wire form needs CRLF
      out.append(data + copied, lf - copied);
      out += '\r';
      copied = lf;  // the LF itself goes out with the next run
      ++message_octets_;
    }
    if (lf + 1 < size && data[lf + 1] == '.') {
      out.append(data + copied, lf + 1 - copied);
      out += '.';
      copied = lf + 1;
    }
    i = lf + 1;
  }
  out.append(data + copied, size - copied);
  after_cr_ = data[size - 1] == '\r';
  at_line_start_ = data[size - 1] == '\n';
}

void DotStuffer::finish(std::string& out) {
  after_cr_ = false;  // a CR as the very last octet was bare, and has gone out as it is
  // The CRLF added here is framing for the terminator, not message content, so
  // message_octets() does not count it.
  if (!at_line_start_) out += kCrlf;
  out += kTerminator;  // RFC 1939 §3: the multi-line response ends with "." CRLF
  at_line_start_ = true;
}

}  // namespace popgate::pop3
