// ScriptedJmapServer: an HTTP/1.1 server on 127.0.0.1 port 0, in the test's own loop, that answers
// a JmapMailbox with Cyrus's recorded replies (tests/unit/adapters/jmap/jmap_replies/) unless the test
// scripts another answer. A fake because a real Cyrus never answers 429 or 503 on cue, nor with a
// chosen Retry-After; the recorded replies keep the rest of the conversation real.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gateway/io/loop.h"
#include "tests/unit/gateway/io/scripted_http_server.h"

namespace popgate::testing {

inline std::string recorded_jmap_reply(const std::string& name) {
  std::ifstream in(std::string(POPGATE_SOURCE_DIR) + "/tests/unit/adapters/jmap/jmap_replies/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class ScriptedJmapServer : public ScriptedHttpServer {
 public:
  // Answers with Cyrus's recorded conversation until a test sets `respond`.
  explicit ScriptedJmapServer(io::Loop& loop) : ScriptedHttpServer(loop) { respond = recorded_answer; }

  std::string session_url() const { return url("/jmap/session"); }

  // What Cyrus answered (recorded): the session resource, Mailbox/get, the first page, Email/get.
  static Answer recorded_answer(const Request& request) {
    const std::vector<std::pair<std::string, std::string>> json = {{"Content-Type", "application/json"}};
    if (request.method == "GET" && request.target == "/jmap/session") {
      return Answer{200, json, recorded_jmap_reply("reply_session.json")};
    }
    if (request.method == "POST" && request.body.find("\"Mailbox/get\"") != std::string::npos) {
      return Answer{200, json, recorded_jmap_reply("reply_mailbox_get.json")};
    }
    if (request.method == "POST" && request.body.find("\"Email/query\"") != std::string::npos) {
      return Answer{200, json, recorded_jmap_reply("reply_query_then_get.json")};
    }
    if (request.method == "POST" && request.body.find("\"Email/get\"") != std::string::npos) {
      return Answer{200, json, recorded_jmap_reply("reply_email_get.json")};
    }
    if (request.method == "GET" && request.target.starts_with("/jmap/download/")) {
      return Answer{200, {{"Content-Type", "message/rfc822"}}, "Subject: x\r\n\r\nbody\r\n"};
    }
    return Answer{404, {}, "not found"};
  }
};

}  // namespace popgate::testing
