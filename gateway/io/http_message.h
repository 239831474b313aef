// The HTTP/1.1 messages as values: what the request writer serialises, what the response parser
// fills in and what HttpConnection hands to its caller. No I/O, no parsing.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popgate::io {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  HttpHeaders headers;  // Host and Content-Length are written from the origin and the body
  std::string body;
  bool sensitive = false;  // headers carry credentials: never logged
};

struct HttpResponseHead {
  int status = 0;
  HttpHeaders headers;  // names as received
  // Case-insensitive lookup of the first header with this name.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct HttpResponse {
  HttpResponseHead head;
  std::string body;
};

}  // namespace popgate::io
