// FUZZ_CHECK: an invariant a fuzz target asserts. A failure prints it and aborts, so libFuzzer
// keeps the input as a crash reproducer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

namespace popgate::fuzz {

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, condition);
  std::abort();
}

// The body of a target's LLVMFuzzerTestOneInput for code that promises not to throw: `check` gets
// the input as text, and an exception escaping it fails the invariant that `what` names.
template <typename Check>
int check_input_without_exceptions(const uint8_t* data, size_t size, Check check,
                                   const char* what = "an exception escaped") {
  try {
    check(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fuzz invariant failed: %s: %s\n", what, error.what());
    std::abort();
  }
  return 0;
}

}  // namespace popgate::fuzz

#define FUZZ_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::popgate::fuzz::check_failed(#condition, __FILE__, __LINE__))
