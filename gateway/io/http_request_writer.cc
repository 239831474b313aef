// write_http_request: validation of the method, the target and each field, then the wire form.
#include "gateway/io/http_request_writer.h"

#include <algorithm>
#include <cctype>

#include "gateway/io/http_url.h"
#include "protocol/common/ascii.h"
#include "protocol/common/str_cat.h"

namespace popgate::io {

namespace {

using ascii::iequals;

// RFC 9110 §5.6.2 tchar.
bool is_token(std::string_view text) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kSpecials.find(c) != std::string_view::npos;
  });
}

// A field value must not be able to end the header line (RFC 9110 §5.5).
bool is_field_value(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

Result<std::string> write_http_request(const HttpRequest& request, std::string_view authority) {
  if (!is_token(request.method)) return make_error(ErrorKind::Internal, "invalid HTTP request method");
  if (request.target.empty() || request.target[0] != '/' || has_control_or_space(request.target)) {
    return make_error(ErrorKind::Internal, "invalid HTTP request target");
  }
  std::string wire = str_cat(request.method, " ", request.target, " HTTP/1.1\r\nHost: ", authority, "\r\n");
  for (const auto& [name, value] : request.headers) {
    if (!is_token(name)) return make_error(ErrorKind::Internal, "invalid HTTP request header name");
    if (!is_field_value(value)) {
      return make_error(ErrorKind::Internal, "invalid value in HTTP request header " + name);
    }
    // The writer frames the message itself.
    if (iequals(name, "Host") || iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding"))
      continue;
    wire.append(name).append(": ").append(value).append("\r\n");
  }
  // RFC 9110 §8.6: a length even for an empty body where the method expects one.
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    wire.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
  }
  wire.append("\r\n");
  wire.append(request.body);
  return wire;
}

}  // namespace popgate::io
