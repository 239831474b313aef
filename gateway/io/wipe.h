// Wiping transport buffers: octets popgate writes may be a LOGIN command with a password or an
// AUTHENTICATE line with a token, so a buffer that held them is zeroed before it is freed or reused.
// explicit_bzero: a memset the compiler may not drop as a dead store, at memset speed (a message
// body queued under backpressure goes through here too).
#pragma once

#include <string.h>

#include <cstring>
#include <string>

namespace popgate::io {

// Zeroes every octet `s` ever held (a shrunk string keeps old octets past size()), then empties it.
inline void wipe(std::string& s) {
  s.resize(s.capacity());
  explicit_bzero(s.data(), s.size());
  s.clear();
}

// Removes the first `n` octets of `s` and zeroes the octets the shorter string no longer covers.
inline void wipe_front(std::string& s, size_t n) {
  if (n >= s.size()) return wipe(s);
  const size_t rest = s.size() - n;
  std::memmove(s.data(), s.data() + n, rest);
  explicit_bzero(s.data() + rest, n);
  s.resize(rest);
}

}  // namespace popgate::io
