// ScriptedHttpServer: an HTTP/1.1 server on 127.0.0.1 port 0, in the test's own loop, that cuts
// each request (head, and a body by Content-Length) and answers it with what `respond` returns.
// The scripted peer of the tests that need a whole HTTP conversation (a JMAP server, an OAuth2
// token endpoint); http_connection_test.cc's FakeHttpServer is the raw-bytes one.
#pragma once

#include <algorithm>
#include <cctype>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/io/loop.h"
#include "gateway/io/tcp_listener.h"
#include "gateway/io/transport.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::testing {

class ScriptedHttpServer {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;

    std::optional<std::string> header(std::string_view name) const {
      for (const auto& [key, value] : headers) {
        if (key == name) return value;
      }
      return std::nullopt;
    }
  };
  struct Answer {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Length
    std::string body;
  };
  using Responder = std::function<Answer(const Request&)>;

  explicit ScriptedHttpServer(io::Loop& loop) {
    listener_ = io::testing::listen_on(loop, io::testing::loopback_address(),
                                       [this](io::TransportPtr accepted) { accept(std::move(accepted)); });
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(listener_->local_address().port()) + std::string(path);
  }

  Responder respond = [](const Request&) { return Answer{404, {}, "not found"}; };
  std::vector<Request> requests;  // every complete request, in order of arrival
  size_t connections = 0;

 private:
  struct Peer final : io::TransportHandler {
    void on_data(std::string_view data) override {
      buffer.append(data);
      server->take_requests(*this);
    }
    void on_end(const io::StreamEnd&) override {}
    ScriptedHttpServer* server = nullptr;
    io::TransportPtr transport;
    std::string buffer;
  };

  void accept(io::TransportPtr accepted) {
    ++connections;
    auto peer = std::make_unique<Peer>();
    peer->server = this;
    peer->transport = std::move(accepted);
    peer->transport->set_handler(peer.get());
    peer->transport->start_reading();
    peers_.push_back(std::move(peer));
  }

  static std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
  }

  void take_requests(Peer& peer) {
    for (;;) {
      const size_t head_end = peer.buffer.find("\r\n\r\n");
      if (head_end == std::string::npos) return;
      Request request;
      std::istringstream head(peer.buffer.substr(0, head_end));
      std::string line;
      std::getline(head, line);
      std::istringstream request_line(line);
      request_line >> request.method >> request.target;
      size_t length = 0;
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        request.headers.emplace_back(lower(line.substr(0, colon)), value);
        if (request.headers.back().first == "content-length") length = std::stoul(value);
      }
      if (peer.buffer.size() < head_end + 4 + length) return;
      request.body = peer.buffer.substr(head_end + 4, length);
      peer.buffer.erase(0, head_end + 4 + length);
      requests.push_back(request);
      const Answer answer = respond(request);
      std::string reply = "HTTP/1.1 " + std::to_string(answer.status) + " X\r\n";
      for (const auto& [name, value] : answer.headers) reply += name + ": " + value + "\r\n";
      reply += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n\r\n" + answer.body;
      peer.transport->write(reply);
    }
  }

  std::unique_ptr<io::TcpListener> listener_;
  std::vector<std::unique_ptr<Peer>> peers_;
};

}  // namespace popgate::testing
