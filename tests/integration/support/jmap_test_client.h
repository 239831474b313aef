// Tiny blocking HTTP/1.1 and JMAP clients that integration tests use to look at a JMAP server.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popgate::integration {

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // origin-form: "/jmap/", "/.well-known/jmap"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with a Content-Length unless the method is GET or HEAD and it is empty
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;                                          // decoded if it came chunked
  bool chunked = false;                                      // Transfer-Encoding: chunked was used
  // The first value of a header (name compared case-insensitively), or "" if absent.
  std::string header(std::string_view name) const;
};

// One request on a fresh connection to 127.0.0.1:port, with Host and "Connection: close" added; reads
// the final response (1xx skipped), delimited by Content-Length, chunked coding or EOF. Throws
// std::runtime_error on I/O errors, timeouts and unparsable responses.
HttpResponse http_exchange(uint16_t port, const HttpRequest& request,
                           std::chrono::milliseconds timeout = std::chrono::seconds(15));

// "Basic <base64(user:password)>".
std::string basic_authorization(std::string_view user, std::string_view password);

// RFC 6570 simple-string expansion of one value: everything but unreserved characters percent-encoded.
std::string uri_escape(std::string_view value);

// A JMAP (RFC 8620/8621) client for one user of a CyrusServer: session discovery through the
// /.well-known/jmap redirect, API calls and blob downloads. Throws std::runtime_error on any HTTP
// status other than 200, and on JMAP method errors in the helpers that interpret replies.
class JmapClient {
 public:
  JmapClient(uint16_t http_port, std::string user, std::string password);

  // GET /.well-known/jmap, follows the redirect and returns the session resource; also remembers
  // apiUrl, downloadUrl (resolved against the session URL) and the primary mail account.
  const nlohmann::json& session();
  // The session URL after the redirect, as a path ("/jmap").
  const std::string& session_path();
  const std::string& account_id();
  const std::string& api_path();

  // POSTs {"using": [core, mail], "methodCalls": calls}; returns the whole response object.
  nlohmann::json call(const nlohmann::json& method_calls);
  // As call(), for a request body given verbatim; returns the raw HTTP response.
  HttpResponse post_api(std::string_view body);
  // One method call; returns its arguments, throws if the server answered with an "error".
  nlohmann::json call_one(std::string_view method, nlohmann::json arguments);

  // The id of the mailbox with this role ("inbox", "trash"); throws if none.
  std::string mailbox_id_by_role(std::string_view role);

  // GET of the downloadUrl template filled in with percent-encoded values.
  HttpResponse download(std::string_view blob_id, std::string_view type = "message/rfc822",
                        std::string_view name = "message.eml",
                        const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  std::string download_path(std::string_view blob_id, std::string_view type, std::string_view name);

  HttpResponse get(std::string_view target,
                   const std::vector<std::pair<std::string, std::string>>& extra = {});

 private:
  void discover();

  uint16_t port_;
  std::string user_;
  std::string password_;
  nlohmann::json session_;
  std::string session_path_;
  std::string api_path_;
  std::string download_template_;
  std::string account_id_;
};

}  // namespace popgate::integration
