// str_cat: one string from several pieces, sized once (the idea of absl::StrCat).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace popgate {

// Besides saving the temporaries of a chain of operator+, building by append keeps GCC 12's
// -Wrestrict false positive out of -O3 builds: once `"x" + std::string(...)` is inlined it
// warns that memcpy may overlap (GCC PR 105329), which -Werror would make an error.
template <typename... Pieces>
std::string str_cat(const Pieces&... pieces) {
  const std::array<std::string_view, sizeof...(Pieces)> views = {std::string_view(pieces)...};
  size_t size = 0;
  for (const std::string_view view : views) size += view.size();
  std::string text;
  text.reserve(size);
  for (const std::string_view view : views) text.append(view);
  return text;
}

}  // namespace popgate
