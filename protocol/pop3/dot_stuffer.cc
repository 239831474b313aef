// DotStuffer: CRLF normalisation and dot-stuffing of a streamed message body (RFC 1939 §3).
#include "protocol/pop3/dot_stuffer.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace popgate::pop3 {

namespace {
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kTerminator = ".\r\n";

bool needs_change(const char* data, size_t lf, size_t size, bool cr_before_start) {
  const bool after_cr = lf > 0 ? data[lf - 1] == '\r' : cr_before_start;
  return !after_cr || (lf + 1 < size && data[lf + 1] == '.');
}

#if defined(__SSE2__)
// 16 octets at data[i, i+16) at once, reading data[i-1] and data[i+16] as well: a bit per octet that
// is an LF needing a change (no CR before it, or a "." after it).
unsigned lfs_needing_change(const char* data, size_t i) {
  const auto load = [](const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
  const __m128i lf = _mm_cmpeq_epi8(load(data + i), _mm_set1_epi8('\n'));
  const __m128i cr_before = _mm_cmpeq_epi8(load(data + i - 1), _mm_set1_epi8('\r'));
  const __m128i dot_after = _mm_cmpeq_epi8(load(data + i + 1), _mm_set1_epi8('.'));
  const __m128i fine = _mm_andnot_si128(dot_after, cr_before);  // an ordinary CRLF
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_andnot_si128(fine, lf)));
}
#endif

// The index of the first LF in data[from, size) that needs a change, or `size`. `cr_before_start`:
// the octet before data[0] (in the previous chunk) was a CR.
size_t next_lf_needing_change(const char* data, size_t from, size_t size, bool cr_before_start) {
  size_t i = from;
  while (i < size) {
#if defined(__SSE2__)
    // Where ordinary CRLF lines are all there is, step over them 16 octets at a time; the first
    // octet and the last 17 of the chunk go through the memchr path below.
    for (; i >= 1 && i + 17 <= size; i += 16) {
      if (const unsigned bits = lfs_needing_change(data, i))
        return i + static_cast<size_t>(__builtin_ctz(bits));
    }
#endif
    const void* found = std::memchr(data + i, '\n', size - i);
    if (found == nullptr) return size;
    const size_t lf = static_cast<size_t>(static_cast<const char*>(found) - data);
    if (needs_change(data, lf, size, cr_before_start)) return lf;
    i = lf + 1;
  }
  return size;
}
}  // namespace

// Mail is almost all CRLF lines that do not start with ".", which go out unchanged. So the loop
// only stops at the line feeds that need a change (a bare LF, a line starting with "."), found 16
// octets at a time where SSE2 is there, and copies the octets between them in one append: for a
// well-formed body, one append per chunk. A CR needs nothing: before an LF it is the CRLF,
// elsewhere a bare CR goes out as it is.
void DotStuffer::feed(std::string_view chunk, std::string& out) {
  if (chunk.empty()) return;
  out.reserve(out.size() + chunk.size() + kCrlf.size());
  message_octets_ += chunk.size();
  const char* const data = chunk.data();
  const size_t size = chunk.size();
  size_t copied = 0;  // chunk[copied, ...) is not in `out` yet
  // RFC 1939 §3: a line starting with "." is sent with one more ".".
  if (at_line_start_ && data[0] == '.') out += '.';
  for (size_t lf = next_lf_needing_change(data, 0, size, after_cr_); lf < size;
       lf = next_lf_needing_change(data, lf + 1, size, after_cr_)) {
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
