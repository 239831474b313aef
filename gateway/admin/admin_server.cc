// AdminServer: accepts admin connections, parses their requests and answers the three routes.
#include "gateway/admin/admin_server.h"

#include <string>
#include <string_view>

#include "gateway/io/timer.h"
#include "gateway/log.h"

namespace popgate {
namespace {

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";
// The Prometheus text exposition format (what prometheus-cpp's TextSerializer writes).
constexpr std::string_view kExposition = "text/plain; version=0.0.4; charset=utf-8";

struct Response {
  int status = 200;
  std::string_view reason = "OK";
  std::string_view content_type = kPlainText;
  std::string body;
  bool allow_header = false;  // 405: say which methods are allowed
};

Response error_response(int status, std::string_view reason) {
  Response response{status, reason, kPlainText, std::string(reason) + "\n"};
  for (char& c : response.body) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return response;
}

// Status line, headers and (unless `head_only`) the body.
std::string serialize(const Response& response, bool keep_alive, bool head_only) {
  std::string out =
      "HTTP/1.1 " + std::to_string(response.status) + " " + std::string(response.reason) + "\r\n";
  out += "Content-Type: ";
  out += response.content_type;
  out += "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  if (response.allow_header) out += "Allow: GET, HEAD\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += response.body;
  return out;
}

}  // namespace

// One admin connection: parses requests in order and answers each one before the next.
class AdminServer::Connection final : public io::TransportHandler {
 public:
  Connection(AdminServer& server, uint64_t id, io::TransportPtr transport)
      : server_(server),
        id_(id),
        transport_(std::move(transport)),
        parser_(server.options_.limits),
        idle_timer_(server.loop_) {
    transport_->set_handler(this);
    transport_->start_reading();
    arm_idle_timer();
  }

  // io::TransportHandler
  void on_data(std::string_view data) override {
    if (closing_) return;
    input_.append(data);
    arm_idle_timer();
    process();
  }
  void on_end(const io::StreamEnd&) override { close(); }
  void on_drained() override {
    if (closing_ || !paused_) return;
    paused_ = false;
    transport_->start_reading();
    process();
  }

  // Flushes what is queued and closes; the server destroys this object on the next tick.
  void close() {
    if (closing_) return;
    closing_ = true;
    idle_timer_.stop();
    transport_->end();
    server_.remove(id_);
  }

 private:
  void arm_idle_timer() {
    idle_timer_.start(server_.options_.idle_timeout_ms, [this] { close(); });
  }

  // Answers every whole request buffered, unless the client is not reading its answers.
  void process() {
    size_t used = 0;
    while (!closing_ && used < input_.size()) {
      if (transport_->over_high_watermark()) {
        // Pipelined requests wait until the client reads the answers already queued.
        paused_ = true;
        transport_->stop_reading();
        break;
      }
      io::HttpRequestStep step = parser_.parse(std::string_view(input_).substr(used));
      used += step.consumed;
      if (step.status == io::HttpRequestStatus::NeedMore) break;
      if (step.status == io::HttpRequestStatus::Error) {
        refuse(step);
        break;
      }
      answer(parser_.request());
    }
    input_.erase(0, used);
  }

  void answer(const io::HttpServerRequest& request) {
    const bool head = request.method == "HEAD";
    const std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
    Response response;
    if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
      response = error_response(404, "Not Found");
    } else if (request.method != "GET" && !head) {
      response = error_response(405, "Method Not Allowed");
      response.allow_header = true;
    } else if (path == "/metrics") {
      response.content_type = kExposition;
      response.body = server_.metrics_.serialize();
    } else if (path == "/healthz") {
      response.body = "ok\n";
    } else if (server_.ready_()) {
      response.body = "ready\n";
    } else {
      response = error_response(503, "Service Unavailable");
      response.body = "not ready\n";
    }
    transport_->write(serialize(response, request.keep_alive, head));
    if (!request.keep_alive) close();
  }

  void refuse(const io::HttpRequestStep& step) {
    Response response;
    switch (step.error) {
      case io::HttpRequestError::HeadTooLarge:
        response = error_response(431, "Request Header Fields Too Large");
        break;
      case io::HttpRequestError::BodyTooLarge:
        response = error_response(413, "Content Too Large");
        break;
      default:
        response = error_response(400, "Bad Request");
        break;
    }
    log::Line(log::Level::Debug, "admin_bad_request")
        .field("peer", transport_->peer().address)
        .field("status", response.status)
        .field("reason", step.reason);
    transport_->write(serialize(response, /*keep_alive=*/false, /*head_only=*/false));
    close();
  }

  AdminServer& server_;
  const uint64_t id_;
  io::TransportPtr transport_;
  io::HttpRequestParser parser_;
  io::Timer idle_timer_;
  std::string input_;  // received, not yet parsed (only while paused or mid-request)
  bool paused_ = false;
  bool closing_ = false;
};

AdminServer::AdminServer(io::Loop& loop, const Metrics& metrics, ReadyFn ready, Options options)
    : loop_(loop), metrics_(metrics), ready_(std::move(ready)), options_(options) {}

AdminServer::~AdminServer() {
  alive_.revoke();
  listener_.reset();
  connections_.clear();  // each transport is destroyed: its connection is aborted
}

Result<AdminServerPtr> AdminServer::start(io::Loop& loop, const io::SocketAddress& address,
                                          const Metrics& metrics, ReadyFn ready, Options options) {
  AdminServerPtr server(new AdminServer(loop, metrics, std::move(ready), options));
  AdminServer* raw = server.get();
  auto listener = io::TcpListener::listen(
      loop, address, {}, [raw](io::TransportPtr transport) { raw->accept(std::move(transport)); });
  if (!listener) return listener.error();
  server->listener_ = std::move(listener).value();
  return server;
}

void AdminServer::close() {
  listener_->close();
  for (auto& [id, connection] : connections_) connection->close();
}

void AdminServer::accept(io::TransportPtr transport) {
  if (connections_.size() >= options_.max_connections) {
    Response busy = error_response(503, "Service Unavailable");
    transport->write(serialize(busy, /*keep_alive=*/false, /*head_only=*/false));
    transport->end();
    return;
  }
  const uint64_t id = next_id_++;
  connections_.emplace(id, std::make_unique<Connection>(*this, id, std::move(transport)));
}

void AdminServer::remove(uint64_t id) {
  loop_.defer([this, alive = alive_.watch(), id] {
    if (!alive) return;
    connections_.erase(id);
  });
}

}  // namespace popgate
