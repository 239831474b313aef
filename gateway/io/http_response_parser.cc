// HttpResponseParser: llhttp driven one event at a time, by pausing it in the callbacks.
//
// Every callback that completes an event (head, body span, end of message) records it and
// returns HPE_PAUSED: llhttp_execute then stops right after the event's last byte, and
// llhttp_get_error_pos tells how much input was used. The next parse() resumes the parser,
// with empty input if need be, because llhttp may still have transitions to make that read
// no bytes (the end of a message right after its head).
#include "gateway/io/http_response_parser.h"

#include <llhttp.h>

#include <algorithm>
#include <utility>

namespace popgate::io {

namespace {

// A non-null pointer for feeding llhttp nothing: a null one would end a span in progress.
constexpr char kNothing[1] = {'\0'};

// Per header line, what the stored text does not show: ": " and CRLF.
constexpr size_t kHeaderLineOverhead = 4;

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

struct HttpResponseParser::Callbacks {
  static HttpResponseParser& self(llhttp_t* p) { return *static_cast<HttpResponseParser*>(p->data); }

  static int message_begin(llhttp_t* p) { return self(p).on_message_begin(); }
  static int status(llhttp_t* p, const char*, size_t n) { return self(p).on_status(n); }
  static int header_field(llhttp_t* p, const char* at, size_t n) { return self(p).on_header_field({at, n}); }
  static int header_value(llhttp_t* p, const char* at, size_t n) { return self(p).on_header_value({at, n}); }
  static int header_value_complete(llhttp_t* p) { return self(p).on_header_value_complete(); }
  static int headers_complete(llhttp_t* p) { return self(p).on_headers_complete(); }
  static int body(llhttp_t* p, const char* at, size_t n) { return self(p).on_body({at, n}); }
  static int message_complete(llhttp_t* p) { return self(p).on_message_complete(); }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t instance = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_message_begin = message_begin;
      s.on_status = status;
      s.on_header_field = header_field;
      s.on_header_value = header_value;
      s.on_header_value_complete = header_value_complete;
      s.on_headers_complete = headers_complete;
      s.on_body = body;
      s.on_message_complete = message_complete;
      return s;
    }();
    return instance;
  }
};

HttpResponseParser::HttpResponseParser(HttpResponseLimits limits)
    : limits_(limits), parser_(std::make_unique<llhttp_t>()) {
  llhttp_init(parser_.get(), HTTP_RESPONSE, &Callbacks::settings());
  parser_->data = this;
}

HttpResponseParser::~HttpResponseParser() = default;

void HttpResponseParser::expect_head_response() {
  head_response_ = true;
}

HttpResponseStep HttpResponseParser::pop_pending(size_t consumed) {
  HttpResponseStep step;
  step.status = HttpResponseParseStatus::Complete;
  step.consumed = consumed;
  step.event = pending_[0];
  if (step.event == HttpResponseEvent::Body) step.body = std::exchange(pending_body_, {});
  pending_[0] = pending_[1];
  pending_[1] = HttpResponseEvent::None;
  --pending_count_;
  return step;
}

HttpResponseStep HttpResponseParser::fail(HttpResponseParseError error, std::string reason) {
  state_ = State::Failed;
  failure_ = {};
  failure_.status = HttpResponseParseStatus::Error;
  failure_.error = error;
  failure_.reason = std::move(reason);
  return failure_;
}

HttpResponseStep HttpResponseParser::parse(std::string_view input) {
  if (pending_count_ > 0) return pop_pending(0);
  if (state_ == State::Failed) return failure_;
  if (input.empty() && !paused_) return {};

  const bool in_head = state_ == State::Idle || state_ == State::Head;
  if (in_head) {
    // llhttp sees at most one octet past the head limit, so the limit trips at the same octet
    // however the head was split, before a malformed octet further on could be reported instead.
    const size_t left = limits_.max_header_bytes - std::min(head_bytes_, limits_.max_header_bytes);
    input = input.substr(0, left + 1);
  }
  const char* begin = input.empty() ? kNothing : input.data();
  llhttp_resume(parser_.get());
  paused_ = false;
  const llhttp_errno_t result = llhttp_execute(parser_.get(), begin, input.size());

  size_t consumed = input.size();
  if (result == HPE_PAUSED) {
    paused_ = true;
    consumed = static_cast<size_t>(llhttp_get_error_pos(parser_.get()) - begin);
  }
  if (in_head) head_bytes_ += consumed;

  if (result != HPE_OK && result != HPE_PAUSED) {
    HttpResponseStep failure;
    if (error_kind_ != HttpResponseParseError::None) {
      failure = fail(error_kind_, error_reason_);
    } else if (result == HPE_PAUSED_UPGRADE) {
      failure = fail(HttpResponseParseError::Malformed, "unexpected protocol upgrade");
    } else {
      const char* reason = llhttp_get_error_reason(parser_.get());
      failure =
          fail(HttpResponseParseError::Malformed, reason != nullptr ? reason : llhttp_errno_name(result));
    }
    // Events found before the error are still delivered, the error after them.
    if (pending_count_ > 0) return pop_pending(0);
    return failure;
  }
  if (in_head && head_bytes_ > limits_.max_header_bytes) {
    pending_count_ = 0;
    return fail(HttpResponseParseError::TooLarge, "response headers too large");
  }
  // The next head counts from the end of this message (octets before its status line included),
  // not from llhttp's message begin, which a split can move to another execute.
  if (std::find(pending_, pending_ + pending_count_, HttpResponseEvent::MessageComplete) !=
      pending_ + pending_count_) {
    head_bytes_ = 0;
  }
  if (pending_count_ > 0) return pop_pending(consumed);
  HttpResponseStep step;
  step.consumed = consumed;
  return step;
}

HttpResponseStep HttpResponseParser::finish() {
  if (pending_count_ > 0) return pop_pending(0);
  if (state_ == State::Failed) return failure_;
  if (state_ == State::Idle) return {};  // a clean end between responses

  // Transitions that need no input first (the end of a message right after its head).
  llhttp_resume(parser_.get());
  paused_ = false;
  const llhttp_errno_t result = llhttp_execute(parser_.get(), kNothing, 0);
  if (result == HPE_PAUSED) {
    paused_ = true;
    if (pending_count_ > 0) return pop_pending(0);
  } else if (result != HPE_OK) {
    if (error_kind_ != HttpResponseParseError::None) return fail(error_kind_, error_reason_);
    const char* reason = llhttp_get_error_reason(parser_.get());
    return fail(HttpResponseParseError::Malformed, reason != nullptr ? reason : llhttp_errno_name(result));
  }
  if (state_ == State::Body) {
    // A body delimited by the close ends here: llhttp calls on_message_complete.
    llhttp_resume(parser_.get());
    paused_ = false;
    llhttp_finish(parser_.get());
    if (pending_count_ > 0) {
      paused_ = false;  // llhttp_finish does not record the pause
      return pop_pending(0);
    }
  }
  // Cut short: say where.
  std::string reason;
  if (state_ == State::Head) {
    reason = "connection closed in the response head";
  } else if (chunked_) {
    reason = "connection closed mid chunked body after " + std::to_string(body_bytes_) + " body bytes";
  } else if (expected_body_bytes_) {
    reason = "connection closed after " + std::to_string(body_bytes_) + " of " +
             std::to_string(*expected_body_bytes_) + " body bytes";
  } else {
    reason = "connection closed after " + std::to_string(body_bytes_) + " body bytes";
  }
  return fail(HttpResponseParseError::Truncated, std::move(reason));
}

bool HttpResponseParser::push_pending(HttpResponseEvent event) {
  // Every event but a bodiless head pauses llhttp, so two is the most that can wait.
  if (pending_count_ >= 2) {
    error_kind_ = HttpResponseParseError::Malformed;
    error_reason_ = "too many events at once";
    return false;
  }
  pending_[pending_count_++] = event;
  return true;
}

bool HttpResponseParser::count_stored_bytes(size_t n) {
  stored_bytes_ += n;
  if (stored_bytes_ <= limits_.max_header_bytes) return true;
  error_kind_ = HttpResponseParseError::TooLarge;
  error_reason_ = state_ == State::Body ? "response trailers too large" : "response headers too large";
  return false;
}

void HttpResponseParser::store_header() {
  // llhttp hands over a folded value (RFC 9112 §5.2 obs-fold) without its CRLFs but with
  // the whitespace around them, which stands in for the fold; only the end is trimmed.
  while (!value_.empty() && is_ows(value_.back())) value_.pop_back();
  HttpHeaders& target = state_ == State::Body ? trailers_ : head_.headers;
  target.emplace_back(std::move(field_), std::move(value_));
  field_.clear();
  value_.clear();
}

int HttpResponseParser::on_message_begin() {
  if (!interim_) stored_bytes_ = 0;
  interim_ = false;
  state_ = State::Head;
  head_ = {};
  trailers_.clear();
  field_.clear();
  value_.clear();
  keep_alive_ = false;
  chunked_ = false;
  body_bytes_ = 0;
  expected_body_bytes_.reset();
  return 0;
}

int HttpResponseParser::on_status(size_t n) {
  return count_stored_bytes(n) ? 0 : -1;
}

int HttpResponseParser::on_header_field(std::string_view data) {
  if (!count_stored_bytes(data.size())) return -1;
  field_.append(data);
  return 0;
}

int HttpResponseParser::on_header_value(std::string_view data) {
  if (!count_stored_bytes(data.size())) return -1;
  value_.append(data);
  return 0;
}

int HttpResponseParser::on_header_value_complete() {
  if (!count_stored_bytes(kHeaderLineOverhead)) return -1;
  store_header();
  return 0;
}

int HttpResponseParser::on_headers_complete() {
  const int status = parser_->status_code;
  if (status == 101) {
    error_kind_ = HttpResponseParseError::Malformed;
    error_reason_ = "unexpected 101 Switching Protocols";
    return -1;
  }
  if (status / 100 == 1) {
    // RFC 9110 §15.2: an interim response; the final one follows. It has no body.
    interim_ = true;
    return 1;
  }
  head_.status = status;
  chunked_ = (parser_->flags & F_CHUNKED) != 0;
  if (!chunked_ && (parser_->flags & F_CONTENT_LENGTH) != 0) expected_body_bytes_ = parser_->content_length;
  state_ = State::Body;
  if (!push_pending(HttpResponseEvent::Head)) return -1;
  // RFC 9112 §6.3: a response to HEAD, and any 204 or 304, ends with its head whatever
  // Content-Length or Transfer-Encoding say.
  if (head_response_ || status == 204 || status == 304) {
    expected_body_bytes_.reset();
    return 1;
  }
  return HPE_PAUSED;
}

int HttpResponseParser::on_body(std::string_view data) {
  if (data.empty()) return 0;
  body_bytes_ += data.size();
  pending_body_ = data;
  if (!push_pending(HttpResponseEvent::Body)) return -1;
  return HPE_PAUSED;
}

int HttpResponseParser::on_message_complete() {
  if (interim_) return 0;  // on to the final response
  keep_alive_ = llhttp_should_keep_alive(parser_.get()) != 0;
  state_ = State::Idle;
  head_response_ = false;
  if (!push_pending(HttpResponseEvent::MessageComplete)) return -1;
  return HPE_PAUSED;
}

}  // namespace popgate::io
