// HttpRequestParser: llhttp driven one request at a time, by pausing it when a request ends.
//
// on_message_complete returns HPE_PAUSED: llhttp_execute then stops right after the request's
// last byte and llhttp_get_error_pos tells how much input it used; the next parse() resumes.
// The size limit is checked inside the data callbacks (where the position in the input is
// known), so a huge head is refused as soon as it passes the limit, and again after each
// llhttp_execute for the bytes no callback sees.
#include "gateway/io/http_request_parser.h"

#include <llhttp.h>

namespace popgate::io {

struct HttpRequestParser::Callbacks {
  static HttpRequestParser& self(llhttp_t* p) { return *static_cast<HttpRequestParser*>(p->data); }

  static int message_begin(llhttp_t* p) { return self(p).on_message_begin(); }
  static int url(llhttp_t* p, const char* at, size_t n) { return self(p).on_url({at, n}); }
  static int head_data(llhttp_t* p, const char* at, size_t n) { return self(p).on_head_data(at + n); }
  static int headers_complete(llhttp_t* p) { return self(p).on_headers_complete(); }
  static int body(llhttp_t* p, const char* at, size_t n) { return self(p).on_body(at + n); }
  static int message_complete(llhttp_t* p) { return self(p).on_message_complete(); }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t instance = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_message_begin = message_begin;
      s.on_url = url;
      s.on_header_field = head_data;
      s.on_header_value = head_data;
      s.on_headers_complete = headers_complete;
      s.on_body = body;
      s.on_message_complete = message_complete;
      return s;
    }();
    return instance;
  }
};

HttpRequestParser::HttpRequestParser(HttpRequestLimits limits)
    : limits_(limits), parser_(std::make_unique<llhttp_t>()) {
  llhttp_init(parser_.get(), HTTP_REQUEST, &Callbacks::settings());
  parser_->data = this;
}

HttpRequestParser::~HttpRequestParser() = default;

HttpRequestStep HttpRequestParser::fail(HttpRequestError error, std::string reason) {
  state_ = State::Failed;
  failure_ = {};
  failure_.status = HttpRequestStatus::Error;
  failure_.error = error;
  failure_.reason = std::move(reason);
  return failure_;
}

int HttpRequestParser::reject(HttpRequestError error, const char* reason) {
  error_kind_ = error;
  error_reason_ = reason;
  return -1;
}

HttpRequestStep HttpRequestParser::parse(std::string_view input) {
  if (state_ == State::Failed) return failure_;
  if (input.empty()) return {};  // llhttp only pauses at the end of a request: nothing is pending

  if (paused_) {
    llhttp_resume(parser_.get());
    paused_ = false;
  }
  completed_ = false;
  execute_begin_ = input.data();
  const llhttp_errno_t result = llhttp_execute(parser_.get(), input.data(), input.size());

  size_t consumed = input.size();
  if (result == HPE_PAUSED) {
    paused_ = true;
    consumed = static_cast<size_t>(llhttp_get_error_pos(parser_.get()) - input.data());
  } else if (result != HPE_OK) {
    if (error_kind_ != HttpRequestError::None) return fail(error_kind_, error_reason_);
    if (result == HPE_PAUSED_UPGRADE)
      return fail(HttpRequestError::Malformed, "protocol upgrade not supported");
    const char* reason = llhttp_get_error_reason(parser_.get());
    return fail(HttpRequestError::Malformed, reason != nullptr ? reason : llhttp_errno_name(result));
  }
  request_bytes_ += consumed;
  if (request_bytes_ > limits_.max_request_bytes) {
    return head_complete_ ? fail(HttpRequestError::BodyTooLarge, "request body too large")
                          : fail(HttpRequestError::HeadTooLarge, "request head too large");
  }
  HttpRequestStep step;
  step.consumed = consumed;
  if (completed_) {
    step.status = HttpRequestStatus::Complete;
    request_bytes_ = 0;
  }
  return step;
}

bool HttpRequestParser::within_limit(const char* end) const {
  return request_bytes_ + static_cast<size_t>(end - execute_begin_) <= limits_.max_request_bytes;
}

int HttpRequestParser::on_message_begin() {
  state_ = State::Head;
  head_complete_ = false;
  request_ = {};
  return 0;
}

int HttpRequestParser::on_url(std::string_view data) {
  if (!within_limit(data.data() + data.size()))
    return reject(HttpRequestError::HeadTooLarge, "request head too large");
  request_.target.append(data);
  return 0;
}

int HttpRequestParser::on_head_data(const char* end) {
  return within_limit(end) ? 0 : reject(HttpRequestError::HeadTooLarge, "request head too large");
}

int HttpRequestParser::on_headers_complete() {
  if (parser_->http_major != 1) return reject(HttpRequestError::Malformed, "unsupported HTTP version");
  request_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_->method));
  request_.version_major = parser_->http_major;
  request_.version_minor = parser_->http_minor;
  head_complete_ = true;
  state_ = State::Body;
  return 0;
}

int HttpRequestParser::on_body(const char* end) {
  return within_limit(end) ? 0 : reject(HttpRequestError::BodyTooLarge, "request body too large");
}

int HttpRequestParser::on_message_complete() {
  // An Upgrade or CONNECT request is answered as an ordinary one, and the connection closes.
  request_.keep_alive = llhttp_should_keep_alive(parser_.get()) != 0 && parser_->upgrade == 0;
  state_ = State::Idle;
  completed_ = true;
  return HPE_PAUSED;
}

}  // namespace popgate::io
