// SecretString: a password or token that is wiped when dropped and never printed.
#pragma once

#include <string>
#include <string_view>

#include "protocol/common/wipe.h"

namespace popgate {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view value) : value_(value) {}
  // Takes over the buffer, so no unwiped copy is left behind.
  explicit SecretString(std::string&& value) : value_(std::move(value)) {}
  explicit SecretString(const char* value) : value_(value) {}
  SecretString(const SecretString&) = default;
  SecretString& operator=(const SecretString& other) {
    if (this != &other) {
      wipe();
      value_ = other.value_;
    }
    return *this;
  }
  SecretString(SecretString&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      wipe();
      value_ = std::move(other.value_);
      other.wipe();
    }
    return *this;
  }
  ~SecretString() { wipe(); }

  // Deliberately not implicit: every use of the plaintext is visible at the call site.
  std::string_view reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  size_t size() const { return value_.size(); }

  // The whole buffer, spare capacity too (a moved-from short string keeps its bytes past size()).
  void wipe() { popgate::wipe(value_); }

 private:
  std::string value_;
};

}  // namespace popgate
