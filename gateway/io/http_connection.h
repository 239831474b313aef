// HttpConnection: an HTTP/1.1 client connection to one origin, on the loop (llhttp parser).
//
// One request at a time, kept alive between requests and reconnected when the server has
// closed it. Responses either buffer their body (JSON API calls, bounded) or stream it to a
// sink with backpressure (message downloads). Non-2xx statuses are responses, not errors:
// the caller decides what a 401 or a 404 means. No redirects are followed here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/io/http_message.h"
#include "gateway/io/http_url.h"
#include "gateway/io/loop.h"
#include "gateway/io/tls_context.h"
#include "protocol/common/result.h"

namespace popgate::io {

// Receives a streamed response.
class HttpBodySink {
 public:
  virtual ~HttpBodySink() = default;
  virtual void on_head(const HttpResponseHead& head) = 0;
  // Return false to abort the transfer: the connection is then closed (not reused) and
  // the request completes successfully with what was delivered.
  virtual bool on_body(std::string_view chunk) = 0;
};

struct HttpOptions {
  uint64_t connect_timeout_ms = 30'000;
  uint64_t request_timeout_ms = 60'000;  // from sending the request to the last body byte, reset by progress
  uint64_t idle_timeout_ms = 60'000;     // an idle kept-alive connection is closed after this
  size_t max_buffered_body = 16 * 1024 * 1024;  // request(): a larger body is an error
  size_t max_header_bytes = 64 * 1024;
  uint64_t tls_handshake_timeout_ms = 10'000;
};

class HttpConnection {
 public:
  using Done = std::function<void(Result<HttpResponse>)>;
  using StreamDone = std::function<void(Status)>;

  // `tls_context` is required when origin.tls; the origin's host is the SNI and verified name.
  HttpConnection(Loop& loop, HttpUrl origin, std::shared_ptr<TlsClientContext> tls_context,
                 HttpOptions options = {});
  // Cancels whatever is in flight: no callback runs afterwards.
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Errors: Temporary for connect/TLS/timeout/closed-early ("connection closed after 1234 of
  // 5000 body bytes"), Protocol for malformed responses or a body over max_buffered_body.
  // The callback runs once, later, never inside the call. One request at a time.
  void request(HttpRequest request, Done done);
  void request_streaming(HttpRequest request, HttpBodySink& sink, StreamDone done);

  // Backpressure for request_streaming(): stop / resume reading the socket.
  void pause();
  void resume();

  // For tests and metrics: TCP (and TLS) connections opened so far.
  uint64_t connections_opened() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popgate::io
