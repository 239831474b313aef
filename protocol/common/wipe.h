// wipe: the one way popgate clears memory that held a secret (a password, a token, a LOGIN line).
//
// A std::string keeps old octets past size() (after clear(), a shrinking resize, or a move out of
// a short string), so wipe() clears the whole capacity, not only size(). The stores are a memset
// followed by a compiler barrier, as BoringSSL's OPENSSL_cleanse does: the optimiser cannot drop
// them as dead before the memory is freed, and they run at memset speed (a message body queued
// under backpressure is wiped too). Standard library only, like all of protocol/.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

namespace popgate {

// Zeroes `n` octets at `p`.
inline void wipe_memory(void* p, size_t n) {
  if (n == 0) return;
  std::memset(p, 0, n);
  // The empty asm may read the memory behind `p`: the zeroes must really be stored.
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

// Zeroes every octet `s` holds, spare capacity included, then empties it (the allocation stays).
inline void wipe(std::string& s) {
  s.resize(s.capacity());
  wipe_memory(s.data(), s.size());
  s.clear();
}

// Zeroes the octets [from, to) of `s` (within size()), leaving its size as it is.
inline void wipe_range(std::string& s, size_t from, size_t to) {
  if (to > s.size()) to = s.size();
  if (from < to) wipe_memory(s.data() + from, to - from);
}

// Removes the first `n` octets of `s` and zeroes the octets the shorter string no longer covers.
inline void wipe_front(std::string& s, size_t n) {
  if (n >= s.size()) return wipe(s);
  const size_t rest = s.size() - n;
  std::memmove(s.data(), s.data() + n, rest);
  wipe_memory(s.data() + rest, n);
  s.resize(rest);
}

}  // namespace popgate
