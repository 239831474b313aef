// HttpResponseParser: sans-I/O HTTP/1.1 response parsing (llhttp in HTTP_RESPONSE mode), one event per step.
//
// Fed bytes from any split, it answers one event at a time: the head (status and headers),
// a body chunk (a view into the bytes just fed, never a copy), or the end of the message.
// 1xx interim responses are skipped; chunked trailers are parsed and kept apart from the
// head; a 101 is an error (nothing here ever asks for an upgrade, and "Connection: Upgrade"
// in any other response is only an announcement). It never touches a socket or a timer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/io/http_message.h"

struct llhttp__internal_s;

namespace popgate::io {

struct HttpResponseLimits {
  // Status line and header fields (plus any 1xx heads before them, plus trailers).
  size_t max_header_bytes = 64 * 1024;
};

enum class HttpResponseParseStatus {
  Complete,  // one event, in HttpResponseStep::event
  NeedMore,  // every byte was consumed and no event is complete yet
  Error,     // see HttpResponseStep::error and reason; every later step fails the same way
};

enum class HttpResponseEvent {
  None,
  Head,             // head() holds the final (non-1xx) status and headers
  Body,             // HttpResponseStep::body: a view into the input just fed
  MessageComplete,  // keep_alive() says whether the connection may carry another response
};

enum class HttpResponseParseError {
  None,
  Malformed,  // the bytes are not an HTTP/1.1 response
  TooLarge,   // the head passed HttpResponseLimits::max_header_bytes
  Truncated,  // finish(): the stream ended inside a response
};

struct HttpResponseStep {
  HttpResponseParseStatus status = HttpResponseParseStatus::NeedMore;
  size_t consumed = 0;  // input bytes used by this step; feed the rest to the next one
  HttpResponseEvent event = HttpResponseEvent::None;
  std::string_view body;  // for Body
  HttpResponseParseError error = HttpResponseParseError::None;
  std::string reason;  // for Error: llhttp's reason, or what was truncated
};

class HttpResponseParser {
 public:
  explicit HttpResponseParser(HttpResponseLimits limits = {});
  ~HttpResponseParser();
  HttpResponseParser(const HttpResponseParser&) = delete;
  HttpResponseParser& operator=(const HttpResponseParser&) = delete;

  // The next response answers a HEAD request: no body, whatever its headers say (RFC 9110 §9.3.2).
  void expect_head_response();

  // Parses from the start of `input` up to the next event. Call again with the unconsumed
  // rest (it may be empty: an event can be pending without new input) until NeedMore.
  HttpResponseStep parse(std::string_view input);
  // The peer closed the stream: a body delimited by the close ends here (MessageComplete),
  // or the response was cut short (Error, Truncated, with a reason such as
  // "connection closed after 1234 of 5000 body bytes"). Between responses: NeedMore.
  HttpResponseStep finish();

  const HttpResponseHead& head() const { return head_; }
  const HttpHeaders& trailers() const { return trailers_; }
  // After MessageComplete: the server may send another response on this connection
  // (HTTP/1.1 without "Connection: close", or HTTP/1.0 with "keep-alive"), and the body's
  // length did not depend on the connection closing.
  bool keep_alive() const { return keep_alive_; }
  // No byte of a response has arrived since the last MessageComplete (or ever).
  bool between_responses() const { return state_ == State::Idle; }
  uint64_t body_bytes() const { return body_bytes_; }
  // From Content-Length, when the body is delimited by it.
  std::optional<uint64_t> expected_body_bytes() const { return expected_body_bytes_; }
  bool chunked() const { return chunked_; }

 private:
  enum class State {
    Idle,    // before the first byte of a response
    Head,    // in the status line or the headers (or 1xx interim responses)
    Body,    // after the head event, until MessageComplete
    Failed,  // an error was returned; it is returned again
  };
  struct Callbacks;

  HttpResponseStep fail(HttpResponseParseError error, std::string reason);
  HttpResponseStep pop_pending(size_t consumed);
  bool push_pending(HttpResponseEvent event);
  // Counts stored head or trailer bytes against the limit; false when over it.
  bool count_stored_bytes(size_t n);
  void store_header();

  // llhttp callbacks (settings in the .cc).
  int on_message_begin();
  int on_status(size_t n);
  int on_header_field(std::string_view data);
  int on_header_value(std::string_view data);
  int on_header_value_complete();
  int on_headers_complete();
  int on_body(std::string_view data);
  int on_message_complete();

  HttpResponseLimits limits_;
  std::unique_ptr<llhttp__internal_s> parser_;
  State state_ = State::Idle;
  bool head_response_ = false;  // expect_head_response() for the response being parsed
  bool interim_ = false;        // the head being parsed is a 1xx
  bool paused_ = false;         // llhttp paused after an event and must be resumed
  bool keep_alive_ = false;
  bool chunked_ = false;
  HttpResponseHead head_;
  HttpHeaders trailers_;
  std::string field_;
  std::string value_;
  size_t head_bytes_ = 0;    // raw bytes of this response's head (1xx heads included)
  size_t stored_bytes_ = 0;  // header and trailer text kept for this response
  uint64_t body_bytes_ = 0;
  std::optional<uint64_t> expected_body_bytes_;
  // What the callbacks found during one llhttp_execute: at most a Head and a MessageComplete
  // at once (a HEAD response), else one event, after which the parser pauses.
  HttpResponseEvent pending_[2] = {HttpResponseEvent::None, HttpResponseEvent::None};
  int pending_count_ = 0;
  std::string_view pending_body_;
  std::string error_reason_;  // set by a callback that rejects the input
  HttpResponseParseError error_kind_ = HttpResponseParseError::None;
  HttpResponseStep failure_;  // returned again after an error
};

}  // namespace popgate::io
