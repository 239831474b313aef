// Tiny blocking HTTP/1.1 and JMAP clients that integration tests use to look at a JMAP server.
#include "tests/integration/support/jmap_test_client.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <stdexcept>

#include "protocol/sasl/base64.h"
#include "tests/integration/support/buffered_socket.h"

namespace popgate::integration {
namespace {

using nlohmann::json;

constexpr std::string_view kUsing = R"(["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"])";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string strip_crlf(std::string line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// Reads the body of a response delimited by chunked coding (RFC 9112 §7.1); trailers are skipped.
std::string read_chunked(BufferedSocket& socket) {
  std::string body;
  for (;;) {
    const std::string size_line = strip_crlf(socket.read_line_with_ending());
    char* end = nullptr;
    const unsigned long size = std::strtoul(size_line.c_str(), &end, 16);
    if (end == size_line.c_str()) throw std::runtime_error("bad chunk size line: " + size_line);
    if (size == 0) break;
    body += socket.read_exact(size);
    if (!strip_crlf(socket.read_line_with_ending()).empty())
      throw std::runtime_error("chunk not ended by CRLF");
  }
  while (!strip_crlf(socket.read_line_with_ending()).empty()) {
  }
  return body;
}

// "http://127.0.0.1:PORT/x" or "/x" or "x" against the path of `base`, as a path; other hosts throw.
std::string resolve_path(std::string_view base_path, std::string_view reference, uint16_t port) {
  const std::string origin = "http://127.0.0.1:" + std::to_string(port);
  if (reference.rfind("http://", 0) == 0 || reference.rfind("https://", 0) == 0) {
    if (reference.rfind(origin + "/", 0) != 0) {
      throw std::runtime_error("URL points away from the server: " + std::string(reference));
    }
    return std::string(reference.substr(origin.size()));
  }
  if (!reference.empty() && reference.front() == '/') return std::string(reference);
  const size_t slash = base_path.rfind('/');
  return std::string(base_path.substr(0, slash + 1)) + std::string(reference);
}

void replace_all(std::string& text, std::string_view placeholder, std::string_view value) {
  for (size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
}

}  // namespace

// ---- HTTP ----

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return "";
}

HttpResponse http_exchange(uint16_t port, const HttpRequest& request, std::chrono::milliseconds timeout) {
  BufferedSocket socket(port, timeout);
  std::string out = request.method + " " + request.target + " HTTP/1.1\r\n";
  out += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [name, value] : request.headers) out += name + ": " + value + "\r\n";
  out += "Connection: close\r\n";
  if (!request.body.empty() || (request.method != "GET" && request.method != "HEAD")) {
    out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  out += "\r\n";
  out += request.body;
  socket.write_all(out);

  HttpResponse response;
  do {  // 1xx responses (Cyrus sends 102 Processing during slow requests) come before the final one
    const std::string status_line = strip_crlf(socket.read_line_with_ending());
    int status = 0;
    int reason_at = 0;
    if (std::sscanf(status_line.c_str(), "HTTP/1.%*d %3d %n", &status, &reason_at) != 1) {
      throw std::runtime_error("bad HTTP status line: " + status_line);
    }
    response.status = status;
    response.reason = reason_at > 0 ? status_line.substr(static_cast<size_t>(reason_at)) : "";
    response.headers.clear();
    for (;;) {
      const std::string line = strip_crlf(socket.read_line_with_ending());
      if (line.empty()) break;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) throw std::runtime_error("bad HTTP header line: " + line);
      response.headers.emplace_back(line.substr(0, colon), trim(std::string_view(line).substr(colon + 1)));
    }
  } while (response.status >= 100 && response.status < 200);

  if (request.method == "HEAD" || response.status == 204 || response.status == 304) return response;
  if (iequals(response.header("Transfer-Encoding"), "chunked")) {
    response.chunked = true;
    response.body = read_chunked(socket);
  } else if (const std::string length = response.header("Content-Length"); !length.empty()) {
    response.body = socket.read_exact(std::stoull(length));
  } else {
    char buf[16384];
    for (size_t n; (n = socket.read_some(buf, sizeof buf)) > 0;) response.body.append(buf, n);
  }
  return response;
}

std::string basic_authorization(std::string_view user, std::string_view password) {
  return "Basic " + sasl::base64_encode(std::string(user) + ":" + std::string(password));
}

std::string uri_escape(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// ---- JMAP ----

JmapClient::JmapClient(uint16_t http_port, std::string user, std::string password)
    : port_(http_port), user_(std::move(user)), password_(std::move(password)) {}

HttpResponse JmapClient::get(std::string_view target,
                             const std::vector<std::pair<std::string, std::string>>& extra) {
  HttpRequest request;
  request.target = std::string(target);
  request.headers = {{"Authorization", basic_authorization(user_, password_)}};
  request.headers.insert(request.headers.end(), extra.begin(), extra.end());
  return http_exchange(port_, request);
}

void JmapClient::discover() {
  if (!session_.is_null()) return;
  HttpResponse r = get("/.well-known/jmap");
  std::string path = "/.well-known/jmap";
  for (int hops = 0; r.status >= 300 && r.status < 400; ++hops) {
    if (hops == 5) throw std::runtime_error("too many redirects from /.well-known/jmap");
    path = resolve_path(path, r.header("Location"), port_);
    r = get(path);
  }
  if (r.status != 200) {
    throw std::runtime_error("JMAP session: HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300));
  }
  session_ = json::parse(r.body);
  session_path_ = path;
  api_path_ = resolve_path(path, session_.at("apiUrl").get<std::string>(), port_);
  download_template_ = resolve_path(path, session_.at("downloadUrl").get<std::string>(), port_);
  account_id_ = session_.at("primaryAccounts").at("urn:ietf:params:jmap:mail").get<std::string>();
}

const json& JmapClient::session() {
  discover();
  return session_;
}

const std::string& JmapClient::session_path() {
  discover();
  return session_path_;
}

const std::string& JmapClient::account_id() {
  discover();
  return account_id_;
}

const std::string& JmapClient::api_path() {
  discover();
  return api_path_;
}

HttpResponse JmapClient::post_api(std::string_view body) {
  HttpRequest request;
  request.method = "POST";
  request.target = api_path();
  request.headers = {{"Authorization", basic_authorization(user_, password_)},
                     {"Content-Type", "application/json"}};
  request.body = std::string(body);
  return http_exchange(port_, request);
}

json JmapClient::call(const json& method_calls) {
  const std::string body =
      R"({"using":)" + std::string(kUsing) + R"(,"methodCalls":)" + method_calls.dump() + "}";
  HttpResponse r = post_api(body);
  if (r.status != 200) {
    throw std::runtime_error("JMAP API: HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300));
  }
  return json::parse(r.body);
}

json JmapClient::call_one(std::string_view method, json arguments) {
  if (!arguments.contains("accountId")) arguments["accountId"] = account_id();
  json response = call(json::array({json::array({method, std::move(arguments), "0"})}));
  const json& reply = response.at("methodResponses").at(0);
  if (reply.at(0) == "error") throw std::runtime_error(std::string(method) + ": " + reply.at(1).dump());
  return reply.at(1);
}

std::string JmapClient::mailbox_id_by_role(std::string_view role) {
  json reply = call_one("Mailbox/get", {{"ids", nullptr}, {"properties", {"id", "role"}}});
  for (const auto& m : reply.at("list")) {
    if (m.at("role").is_string() && m.at("role") == role) return m.at("id");
  }
  throw std::runtime_error("no mailbox with role " + std::string(role));
}

std::string JmapClient::download_path(std::string_view blob_id, std::string_view type,
                                      std::string_view name) {
  discover();
  std::string path = download_template_;
  replace_all(path, "{accountId}", uri_escape(account_id_));
  replace_all(path, "{blobId}", uri_escape(blob_id));
  replace_all(path, "{type}", uri_escape(type));
  replace_all(path, "{name}", uri_escape(name));
  return path;
}

HttpResponse JmapClient::download(std::string_view blob_id, std::string_view type, std::string_view name,
                                  const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  return get(download_path(blob_id, type, name), extra_headers);
}

}  // namespace popgate::integration
