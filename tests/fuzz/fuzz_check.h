// FUZZ_CHECK: an invariant a fuzz target asserts. A failure prints it and aborts, so libFuzzer
// keeps the input as a crash reproducer.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace popgate::fuzz {

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, condition);
  std::abort();
}

}  // namespace popgate::fuzz

#define FUZZ_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::popgate::fuzz::check_failed(#condition, __FILE__, __LINE__))
