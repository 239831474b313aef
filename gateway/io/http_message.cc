// HttpResponseHead's header lookup.
#include "gateway/io/http_message.h"

#include "protocol/common/ascii.h"

namespace popgate::io {

std::optional<std::string_view> HttpResponseHead::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (ascii::iequals(field, name)) return std::string_view(value);
  }
  return std::nullopt;
}

}  // namespace popgate::io
