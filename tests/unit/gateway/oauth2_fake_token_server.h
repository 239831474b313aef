// FakeTokenServer: a scripted OAuth2 token endpoint (and device authorization endpoint) over
// HTTP/1.1 on 127.0.0.1 port 0, in the test's own loop. It is a fake because no real identity
// provider can be reached offline (and none issues tokens on demand, revokes them on cue or
// answers slow_down when asked); it implements only the RFC 6749 / RFC 8628 surface popgate uses.
#pragma once

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/io/loop.h"
#include "gateway/io/tcp_listener.h"
#include "gateway/io/transport.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::testing {

using Form = std::map<std::string, std::string>;

inline std::string form_decode_component(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

inline Form form_decode(std::string_view body) {
  Form form;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    size_t eq = pair.find('=');
    form[form_decode_component(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : form_decode_component(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return form;
}

class FakeTokenServer {
 public:
  struct Request {
    std::string target;
    Form form;
  };
  struct Answer {
    int status = 200;
    std::string body;
  };
  // Answers one request; the default issues "access-N" tokens for an hour.
  using Responder = std::function<Answer(const Request&)>;

  explicit FakeTokenServer(io::Loop& loop) {
    listener_ = io::testing::listen_on(loop, io::testing::loopback_address(),
                                       [this](io::TransportPtr accepted) { accept(std::move(accepted)); });
    respond = [this](const Request&) {
      return Answer{200, R"({"access_token":"access-)" + std::to_string(requests.size()) +
                             R"(","token_type":"Bearer","expires_in":3600})"};
    };
  }

  std::string url(const std::string& path = "/token") const {
    return "http://127.0.0.1:" + std::to_string(listener_->local_address().port()) + path;
  }

  Responder respond;
  std::vector<Request> requests;

 private:
  struct Peer final : io::TransportHandler {
    void on_data(std::string_view data) override {
      buffer.append(data);
      server->take_requests(*this);
    }
    void on_end(const io::StreamEnd&) override {}
    FakeTokenServer* server = nullptr;
    io::TransportPtr transport;
    std::string buffer;
  };

  void accept(io::TransportPtr accepted) {
    auto peer = std::make_unique<Peer>();
    peer->server = this;
    peer->transport = std::move(accepted);
    peer->transport->set_handler(peer.get());
    peer->transport->start_reading();
    peers_.push_back(std::move(peer));
  }

  void take_requests(Peer& peer) {
    for (;;) {
      size_t head_end = peer.buffer.find("\r\n\r\n");
      if (head_end == std::string::npos) return;
      std::string head = peer.buffer.substr(0, head_end + 2);
      std::string lower = head;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      size_t length = 0;
      if (size_t field = lower.find("\r\ncontent-length:"); field != std::string::npos)
        length = std::stoul(lower.substr(field + 17));
      if (peer.buffer.size() < head_end + 4 + length) return;
      Request request;
      size_t space = head.find(' ');
      request.target = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
      request.form = form_decode(std::string_view(peer.buffer).substr(head_end + 4, length));
      peer.buffer.erase(0, head_end + 4 + length);
      requests.push_back(request);
      Answer answer = respond(request);
      peer.transport->write("HTTP/1.1 " + std::to_string(answer.status) +
                            " X\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(answer.body.size()) + "\r\n\r\n" + answer.body);
    }
  }

  std::unique_ptr<io::TcpListener> listener_;
  std::vector<std::unique_ptr<Peer>> peers_;
};

}  // namespace popgate::testing
