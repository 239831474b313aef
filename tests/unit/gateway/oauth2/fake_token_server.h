// FakeTokenServer: a scripted OAuth2 token endpoint (and device authorization endpoint) over
// HTTP/1.1 on 127.0.0.1 port 0, in the test's own loop. It is a fake because no real identity
// provider can be reached offline (and none issues tokens on demand, revokes them on cue or
// answers slow_down when asked); it implements only the RFC 6749 / RFC 8628 surface popgate uses.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/io/loop.h"
#include "tests/unit/gateway/io/scripted_http_server.h"

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

  explicit FakeTokenServer(io::Loop& loop) : http_(loop) {
    respond = [this](const Request&) {
      return Answer{200, R"({"access_token":"access-)" + std::to_string(requests.size()) +
                             R"(","token_type":"Bearer","expires_in":3600})"};
    };
    http_.respond = [this](const ScriptedHttpServer::Request& http) {
      requests.push_back(Request{http.target, form_decode(http.body)});
      Answer answer = respond(requests.back());
      return ScriptedHttpServer::Answer{answer.status, {{"Content-Type", "application/json"}}, answer.body};
    };
  }

  std::string url(const std::string& path = "/token") const { return http_.url(path); }

  Responder respond;
  std::vector<Request> requests;

 private:
  ScriptedHttpServer http_;
};

}  // namespace popgate::testing
