// HttpRequestParser: sans-I/O HTTP/1.1 request parsing (llhttp in HTTP_REQUEST mode), one request per step.
//
// Built for small servers (the admin endpoint): it keeps the method, the target and whether
// the connection may carry another request; header values and bodies are parsed (so that
// pipelined requests stay in step) and counted, but not kept. Fed bytes from any split, it
// returns Complete once per request, with how much input that request used, so pipelined
// requests come out one at a time. It never touches a socket or a timer.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct llhttp__internal_s;

namespace popgate::io {

struct HttpRequestLimits {
  // One request, head and body together (bytes between requests count toward the next one).
  size_t max_request_bytes = 8 * 1024;
};

enum class HttpRequestStatus {
  Complete,  // a whole request, in HttpRequestParser::request()
  NeedMore,  // every byte was consumed and no request is complete yet
  Error,     // see HttpRequestStep::error and reason; every later step fails the same way
};

enum class HttpRequestError {
  None,
  Malformed,     // the bytes are not an HTTP/1.x request
  HeadTooLarge,  // the request line and headers passed the limit (answer 431)
  BodyTooLarge,  // the whole request passed the limit in its body (answer 413)
};

struct HttpRequestStep {
  HttpRequestStatus status = HttpRequestStatus::NeedMore;
  size_t consumed = 0;  // input bytes used by this step; feed the rest to the next one
  HttpRequestError error = HttpRequestError::None;
  std::string reason;  // for Error: llhttp's reason, or which limit
};

struct HttpServerRequest {
  std::string_view method;  // "GET", "HEAD", ...: llhttp's static name
  std::string target;       // as sent: "/metrics", "/readyz?verbose", "*", "http://host/x"
  int version_major = 1;
  int version_minor = 1;
  // The connection may carry another request: HTTP/1.1 without "Connection: close", or
  // HTTP/1.0 with "keep-alive"; never after an Upgrade or CONNECT (nothing here upgrades).
  bool keep_alive = false;
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(HttpRequestLimits limits = {});
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Parses from the start of `input` up to the end of the next request. Call again with the
  // unconsumed rest until NeedMore.
  HttpRequestStep parse(std::string_view input);

  // The last request returned Complete; valid until the next parse().
  const HttpServerRequest& request() const { return request_; }
  // No byte of a request has arrived since the last Complete (or ever).
  bool between_requests() const { return state_ == State::Idle; }

 private:
  enum class State { Idle, Head, Body, Failed };
  struct Callbacks;

  HttpRequestStep fail(HttpRequestError error, std::string reason);
  int reject(HttpRequestError error, const char* reason);
  // The request, up to `end` in the input being executed, is within the limit.
  bool within_limit(const char* end) const;

  // llhttp callbacks (settings in the .cc).
  int on_message_begin();
  int on_url(std::string_view data);
  int on_head_data(const char* end);  // header fields and values: counted, not kept
  int on_headers_complete();
  int on_body(const char* end);  // counted, not kept
  int on_message_complete();

  HttpRequestLimits limits_;
  std::unique_ptr<llhttp__internal_s> parser_;
  State state_ = State::Idle;
  bool paused_ = false;                  // llhttp paused at the end of a request and must be resumed
  bool completed_ = false;               // on_message_complete ran during this llhttp_execute
  bool head_complete_ = false;           // the current request's head is parsed
  size_t request_bytes_ = 0;             // bytes of the current request before this llhttp_execute
  const char* execute_begin_ = nullptr;  // the input of the llhttp_execute in progress
  HttpServerRequest request_;            // being parsed, then complete
  HttpRequestError error_kind_ = HttpRequestError::None;  // set by a callback that rejects
  std::string error_reason_;
  HttpRequestStep failure_;  // returned again after an error
};

}  // namespace popgate::io
