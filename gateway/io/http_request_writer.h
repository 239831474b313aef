// write_http_request: an HttpRequest as the octets of an HTTP/1.1 request (RFC 9112 §3).
//
// Sans-I/O, the writer beside HttpResponseParser and HttpRequestParser (h11 keeps its writer
// beside its readers): it checks and serialises, and never touches a socket.
#pragma once

#include <string>
#include <string_view>

#include "gateway/io/http_message.h"
#include "protocol/common/result.h"

namespace popgate::io {

// The request line, Host (`authority`, as HttpUrl::authority() gives it), the caller's fields,
// the framing and the body. The writer frames the message itself: the caller's Host,
// Content-Length and Transfer-Encoding fields are dropped, and Content-Length is written for a
// body, and for POST, PUT and PATCH even without one. A method that is not a token, a target
// that is not an absolute path, or a field that could end its line is an Internal error (the
// request is popgate's own); the error names a bad field but never shows its value, which may
// be a credential.
Result<std::string> write_http_request(const HttpRequest& request, std::string_view authority);

}  // namespace popgate::io
