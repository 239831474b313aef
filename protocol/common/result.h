// Result<T>: a value or a typed Error (std::expected is C++23; this is the subset we use).
#pragma once

#include <cassert>
#include <utility>
#include <variant>

#include "protocol/common/error.h"

namespace popgate {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Status: success or an Error, for operations that return nothing.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(ErrorKind kind, std::string detail) { return Error{kind, std::move(detail)}; }

}  // namespace popgate
