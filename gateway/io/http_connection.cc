// HttpConnection: one HTTP/1.1 exchange at a time over a kept-alive TCP or TLS connection,
// parsed by HttpResponseParser.
//
// Lifetime: one cancellation scheme, Liveness watches (liveness.h), at three scopes. The
// caller's callbacks (sink, done) may destroy the HttpConnection (`alive_`) or, from a sink
// callback, end the exchange (`Exchange::alive`): every call into them is followed by a check
// and nothing is touched once it failed. A dropped link revokes `link_alive_`, so a connect or
// handshake callback of the old link finds it gone. Transports are detached (no handler) and
// destroyed from the loop, never while one of their callbacks may be on the stack.
#include "gateway/io/http_connection.h"

#include <utility>

#include "gateway/io/http_request_writer.h"
#include "gateway/io/http_response_parser.h"
#include "gateway/io/liveness.h"
#include "gateway/io/tcp_connector.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls_transport.h"

namespace popgate::io {

// ---------------------------------------------------------------------------------------
// HttpConnection

class HttpConnection::Impl final : public TransportHandler {
 public:
  Impl(Loop& loop, HttpUrl origin, std::shared_ptr<TlsClientContext> tls_context, HttpOptions options)
      : loop_(loop),
        origin_(std::move(origin)),
        tls_context_(std::move(tls_context)),
        options_(options),
        request_timer_(loop),
        idle_timer_(loop),
        resume_timer_(loop) {}

  ~Impl() override {
    alive_.revoke();
    drop_connection(false);
  }

  void start(HttpRequest request, Done done, HttpBodySink* sink, StreamDone stream_done);
  void pause();
  void resume();
  uint64_t connections_opened() const { return connections_opened_; }

  // TransportHandler, for the open connection.
  void on_data(std::string_view data) override;
  void on_end(const StreamEnd& end) override;

 private:
  enum class Link {
    Closed,       // nothing open; the next request connects
    Connecting,   // connect_tcp in flight
    Handshaking,  // TLS handshake in flight
    Open,         // ready for a request, or carrying one
  };

  // The request in flight and what has come back so far.
  struct Exchange {
    Liveness alive;                // a sink callback may end the exchange: process() watches it
    std::string wire;              // the request as sent, kept for the one retry
    HttpBodySink* sink = nullptr;  // request_streaming()
    Done done;                     // request()
    StreamDone stream_done;        // request_streaming()
    HttpResponse response;         // request(): the buffered response
    bool head = false;             // a HEAD request: the response has no body
    bool sent = false;
    bool on_reused_connection = false;
    bool retried = false;
    uint64_t response_bytes = 0;  // received on this attempt
  };

  // Runs `done` (or `stream_done`) with an error from the loop, never inside the caller's call.
  void fail_later(Done done, StreamDone stream_done, Error error);
  void connect();
  void on_connected(Result<TransportPtr> result);
  void on_handshake(Status status);
  void send();
  // Parses `data` (from the transport, or the stash after a pause) and delivers events
  // until the bytes are used up, the caller pauses, or the exchange ends.
  void process(std::string_view data, bool from_stash);
  void drain_stash();
  void handle_end(const StreamEnd& end);
  void arm_request_timer();
  // The response is over: keep the connection for the next request or drop it, then report.
  void finish_exchange(bool reusable);
  void fail(Error error);
  // Reports the end of the exchange; the last thing done before returning to the loop.
  void complete(Result<HttpResponse> result);
  // Closes the connection (end() when graceful, else an abort) and forgets it.
  void drop_connection(bool graceful);

  Loop& loop_;
  HttpUrl origin_;
  std::shared_ptr<TlsClientContext> tls_context_;
  HttpOptions options_;
  Link link_ = Link::Closed;
  ConnectOperationPtr connecting_;
  TransportPtr transport_;
  Liveness link_alive_;  // the link connecting or open: revoked when it is dropped
  bool reused_ = false;  // the open connection has carried a complete exchange
  uint64_t connections_opened_ = 0;
  std::unique_ptr<Exchange> exchange_;
  std::unique_ptr<HttpResponseParser> parser_;
  bool paused_ = false;      // the caller paused the body
  bool processing_ = false;  // process() is on the stack
  std::string stash_;        // received but not yet parsed when the caller paused (one read at most)
  std::optional<StreamEnd> pending_end_;  // the stream ended while stashed bytes wait
  Timer request_timer_;
  Timer idle_timer_;
  Timer resume_timer_;
  Liveness alive_;
};

void HttpConnection::Impl::fail_later(Done done, StreamDone stream_done, Error error) {
  loop_.defer([alive = alive_.watch(), done = std::move(done), stream_done = std::move(stream_done),
               error = std::move(error)] {
    if (!alive) return;
    if (stream_done) {
      stream_done(error);
    } else if (done) {
      done(error);
    }
  });
}

void HttpConnection::Impl::start(HttpRequest request, Done done, HttpBodySink* sink, StreamDone stream_done) {
  if (exchange_) {
    return fail_later(std::move(done), std::move(stream_done),
                      make_error(ErrorKind::Internal, "HTTP request while another is in flight"));
  }
  if (origin_.tls && !tls_context_) {
    return fail_later(std::move(done), std::move(stream_done),
                      make_error(ErrorKind::Internal, "https origin without a TLS context"));
  }
  Result<std::string> wire = write_http_request(request, origin_.authority());
  if (!wire.ok()) return fail_later(std::move(done), std::move(stream_done), wire.error());

  exchange_ = std::make_unique<Exchange>();
  exchange_->wire = std::move(wire).value();
  exchange_->sink = sink;
  exchange_->done = std::move(done);
  exchange_->stream_done = std::move(stream_done);
  exchange_->head = request.method == "HEAD";
  paused_ = false;
  stash_.clear();
  pending_end_.reset();
  idle_timer_.stop();
  if (link_ == Link::Open) {
    send();
  } else if (link_ == Link::Closed) {
    connect();
  }
}

void HttpConnection::Impl::connect() {
  link_ = Link::Connecting;
  connecting_ = connect_tcp(loop_, origin_.host, origin_.port, options_.connect_timeout_ms,
                            [this, link = link_alive_.watch()](Result<TransportPtr> result) {
                              // The operation is owned here: destroying it cancels this call.
                              if (!link) return;
                              on_connected(std::move(result));
                            });
}

void HttpConnection::Impl::on_connected(Result<TransportPtr> result) {
  if (link_ != Link::Connecting) return;
  // Destroyed from the loop: this runs inside its callback.
  loop_.deferred_delete(std::move(connecting_));
  if (!result.ok()) {
    link_ = Link::Closed;
    return fail(result.error());
  }
  ++connections_opened_;
  reused_ = false;
  TransportPtr tcp = std::move(result).value();
  if (!origin_.tls) {
    link_ = Link::Open;
    transport_ = std::move(tcp);
    transport_->set_handler(this);
    return send();
  }
  link_ = Link::Handshaking;
  transport_ = TlsTransport::connect(loop_, std::move(tcp), tls_context_, origin_.host,
                                     options_.tls_handshake_timeout_ms,
                                     [this, link = link_alive_.watch()](Status status) {
                                       // A dropped transport may finish its handshake before it is destroyed.
                                       if (!link) return;
                                       on_handshake(std::move(status));
                                     });
}

void HttpConnection::Impl::on_handshake(Status status) {
  if (link_ != Link::Handshaking) return;
  if (!status.ok()) {
    drop_connection(false);
    return fail(status.error());
  }
  link_ = Link::Open;
  transport_->set_handler(this);
  send();
}

void HttpConnection::Impl::send() {
  exchange_->sent = true;
  exchange_->on_reused_connection = reused_;
  exchange_->response_bytes = 0;
  parser_ =
      std::make_unique<HttpResponseParser>(HttpResponseLimits{.max_header_bytes = options_.max_header_bytes});
  if (exchange_->head) parser_->expect_head_response();
  transport_->write(exchange_->wire);
  if (!paused_) {
    transport_->start_reading();
    arm_request_timer();
  }
}

void HttpConnection::Impl::arm_request_timer() {
  if (options_.request_timeout_ms == 0) return;  // 0: no timeout, as for connect_tcp
  request_timer_.start(options_.request_timeout_ms, [this] {
    drop_connection(false);
    fail(make_error(ErrorKind::Temporary, "HTTP request timed out"));
  });
}

void HttpConnection::Impl::on_data(std::string_view data) {
  if (!exchange_ || !exchange_->sent) {
    // Bytes nobody asked for on an idle connection: it cannot carry a request any more.
    drop_connection(false);
    return;
  }
  exchange_->response_bytes += data.size();
  if (paused_ || !stash_.empty()) {  // not expected while reading is stopped; kept in order all the same
    stash_.append(data);
    transport_->stop_reading();
    return;
  }
  arm_request_timer();
  process(data, false);
}

void HttpConnection::Impl::process(std::string_view data, bool from_stash) {
  Liveness::Watch alive = alive_.watch();
  Exchange* exchange = exchange_.get();
  Liveness::Watch exchange_alive = exchange->alive.watch();
  // After a callback into the caller: this connection, or this exchange, may be gone.
  auto gone = [&] {
    if (!alive) return true;
    if (exchange_alive) return false;
    processing_ = false;
    return true;
  };
  processing_ = true;
  for (;;) {
    if (paused_) {
      // Keep what is left for resume(): at most one read's worth.
      if (from_stash) {
        stash_.erase(0, static_cast<size_t>(data.data() - stash_.data()));
      } else {
        stash_.append(data);
      }
      if (transport_) transport_->stop_reading();
      processing_ = false;
      return;
    }
    HttpResponseStep step = parser_->parse(data);
    data.remove_prefix(step.consumed);
    if (step.status == HttpResponseParseStatus::NeedMore) break;
    if (step.status == HttpResponseParseStatus::Error) {
      processing_ = false;
      drop_connection(false);
      return fail(make_error(ErrorKind::Protocol, step.error == HttpResponseParseError::TooLarge
                                                      ? step.reason
                                                      : "malformed HTTP response: " + step.reason));
    }
    switch (step.event) {
      case HttpResponseEvent::Head:
        if (exchange->sink != nullptr) {
          exchange->sink->on_head(parser_->head());
          if (gone()) return;
        } else {
          exchange->response.head = parser_->head();
        }
        break;
      case HttpResponseEvent::Body:
        if (exchange->sink != nullptr) {
          const bool more = exchange->sink->on_body(step.body);
          if (gone()) return;
          if (!more) {
            // The caller has what it wants: the rest of the body is not read.
            processing_ = false;
            drop_connection(false);
            return complete(HttpResponse{});
          }
        } else {
          if (exchange->response.body.size() + step.body.size() > options_.max_buffered_body) {
            processing_ = false;
            drop_connection(false);
            return fail(make_error(ErrorKind::Protocol, "response body too large"));
          }
          exchange->response.body.append(step.body);
        }
        break;
      case HttpResponseEvent::MessageComplete:
        processing_ = false;
        // Bytes after the response were never asked for: the connection is out of step.
        return finish_exchange(parser_->keep_alive() && data.empty() && !pending_end_);
      case HttpResponseEvent::None:
        break;
    }
  }
  processing_ = false;
  if (!from_stash) return;
  stash_.clear();
  if (pending_end_) {
    StreamEnd end = *pending_end_;
    pending_end_.reset();
    return handle_end(end);
  }
  if (transport_) transport_->start_reading();
  arm_request_timer();
}

void HttpConnection::Impl::drain_stash() {
  if (paused_ || !exchange_ || !exchange_->sent) return;
  // Even with nothing stashed: the parser may owe an event that needs no more bytes (the
  // end of the message right after the chunk the caller paused in).
  process(stash_, true);
}

void HttpConnection::Impl::pause() {
  if (!exchange_ || paused_) return;
  paused_ = true;
  request_timer_.stop();
  resume_timer_.stop();
  if (transport_ && link_ == Link::Open) transport_->stop_reading();
}

void HttpConnection::Impl::resume() {
  if (!paused_) return;
  paused_ = false;
  if (!exchange_ || !exchange_->sent) return;  // send() starts reading
  if (processing_) {
    // Inside a sink callback: process() goes on with the bytes it holds.
    if (transport_) transport_->start_reading();
    arm_request_timer();
    return;
  }
  // Stashed bytes go first, from the loop: never a callback inside resume().
  resume_timer_.start(0, [this] { drain_stash(); });
}

void HttpConnection::Impl::on_end(const StreamEnd& end) {
  if (!exchange_ || !exchange_->sent) {
    drop_connection(false);  // the server closed an idle connection
    return;
  }
  if (paused_ || !stash_.empty()) {
    pending_end_ = end;  // after the stashed bytes
    return;
  }
  handle_end(end);
}

void HttpConnection::Impl::handle_end(const StreamEnd& end) {
  Exchange& exchange = *exchange_;
  const std::string cause = end.clean || end.reason.empty() ? std::string() : " (" + end.reason + ")";
  if (exchange.response_bytes == 0) {
    drop_connection(false);
    if (exchange.on_reused_connection && !exchange.retried) {
      // A stale keep-alive: the server closed the connection before it read the request
      // (RFC 9112 §9.3.1). Once more on a new connection.
      exchange.retried = true;
      exchange.sent = false;
      return connect();
    }
    return fail(make_error(ErrorKind::Temporary, "connection closed before the HTTP response" + cause));
  }
  HttpResponseStep step = parser_->finish();
  if (step.status == HttpResponseParseStatus::Complete && step.event == HttpResponseEvent::MessageComplete) {
    if (!end.clean) {
      // A body delimited by the close must end with a clean close to be whole.
      drop_connection(false);
      return fail(make_error(
          ErrorKind::Temporary,
          "connection closed after " + std::to_string(parser_->body_bytes()) + " body bytes" + cause));
    }
    return finish_exchange(false);
  }
  drop_connection(false);
  if (step.status == HttpResponseParseStatus::Error && step.error == HttpResponseParseError::Malformed) {
    return fail(make_error(ErrorKind::Protocol, "malformed HTTP response: " + step.reason));
  }
  if (step.status == HttpResponseParseStatus::Error)
    return fail(make_error(ErrorKind::Temporary, step.reason + cause));
  fail(make_error(ErrorKind::Temporary, "connection closed before the HTTP response" + cause));
}

void HttpConnection::Impl::finish_exchange(bool reusable) {
  request_timer_.stop();
  if (reusable && transport_) {
    reused_ = true;
    // Still reading while idle, to notice at once when the server closes.
    transport_->start_reading();
    if (options_.idle_timeout_ms > 0)
      idle_timer_.start(options_.idle_timeout_ms, [this] { drop_connection(true); });
  } else {
    drop_connection(true);
  }
  if (exchange_->sink != nullptr) return complete(HttpResponse{});
  HttpResponse response = std::move(exchange_->response);
  complete(std::move(response));
}

void HttpConnection::Impl::fail(Error error) {
  complete(std::move(error));
}

void HttpConnection::Impl::complete(Result<HttpResponse> result) {
  request_timer_.stop();
  resume_timer_.stop();
  std::unique_ptr<Exchange> exchange = std::move(exchange_);
  paused_ = false;
  stash_.clear();
  pending_end_.reset();
  if (!exchange) return;
  // The caller may destroy this connection, or start the next request, from here.
  if (exchange->sink != nullptr) {
    if (exchange->stream_done) exchange->stream_done(result.ok() ? Status(Ok{}) : Status(result.error()));
  } else if (exchange->done) {
    exchange->done(std::move(result));
  }
}

void HttpConnection::Impl::drop_connection(bool graceful) {
  link_alive_.revoke();
  idle_timer_.stop();
  link_ = Link::Closed;
  reused_ = false;
  if (connecting_) {
    connecting_.reset();  // cancels: the callback never runs
  }
  if (transport_) {
    transport_->set_handler(nullptr);
    if (graceful) {
      transport_->end();
    } else {
      transport_->stop_reading();
    }
    // Its callback may be on the stack: destroyed from the loop (an abort unless ended).
    loop_.deferred_delete(std::move(transport_));
  }
}

// ---------------------------------------------------------------------------------------

HttpConnection::HttpConnection(Loop& loop, HttpUrl origin, std::shared_ptr<TlsClientContext> tls_context,
                               HttpOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(origin), std::move(tls_context), options)) {}

HttpConnection::~HttpConnection() = default;

void HttpConnection::request(HttpRequest request, Done done) {
  impl_->start(std::move(request), std::move(done), nullptr, nullptr);
}

void HttpConnection::request_streaming(HttpRequest request, HttpBodySink& sink, StreamDone done) {
  impl_->start(std::move(request), nullptr, &sink, std::move(done));
}

void HttpConnection::pause() {
  impl_->pause();
}

void HttpConnection::resume() {
  impl_->resume();
}

uint64_t HttpConnection::connections_opened() const {
  return impl_->connections_opened();
}

}  // namespace popgate::io
