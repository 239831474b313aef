// HttpUrl: http and https URLs as RFC 3986 parses and resolves them, the subset an HTTP client
// of JMAP servers and token endpoints meets.
#include "gateway/io/http_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "protocol/common/ascii.h"
#include "protocol/common/str_cat.h"

namespace popgate::io {

namespace {

using ascii::iequals;
using ascii::lower;

// RFC 3986 §3.2.2 reg-name, the subset real hosts use.
bool is_host_name(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

bool is_ipv6(const std::string& host) {
  in6_addr address{};
  return inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

uint16_t default_port(bool tls) {
  return tls ? 443 : 80;
}

// RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" before any "/", "?" or "#".
std::optional<std::string_view> scheme_of(std::string_view reference) {
  size_t colon = reference.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view scheme = reference.substr(0, colon);
  if (!std::isalpha(static_cast<unsigned char>(scheme[0]))) return std::nullopt;
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  return scheme;
}

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view path) {
  std::string input(path);
  std::string output;
  auto drop_last_segment = [&output] {
    size_t slash = output.rfind('/');
    output.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!input.empty()) {
    if (input.starts_with("../")) {
      input.erase(0, 3);
    } else if (input.starts_with("./")) {
      input.erase(0, 2);
    } else if (input.starts_with("/./")) {
      input.replace(0, 3, "/");
    } else if (input == "/.") {
      input = "/";
    } else if (input.starts_with("/../")) {
      input.replace(0, 4, "/");
      drop_last_segment();
    } else if (input == "/..") {
      input = "/";
      drop_last_segment();
    } else if (input == "." || input == "..") {
      input.clear();
    } else {
      size_t next = input.find('/', 1);
      if (next == std::string::npos) next = input.size();
      output.append(input, 0, next);
      input.erase(0, next);
    }
  }
  return output;
}

std::pair<std::string_view, std::string_view> split_query(std::string_view target) {
  size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question)};
}

}  // namespace

// Controls, space and DEL never appear in a URL we accept or a request line we send.
bool has_control_or_space(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

std::optional<HttpUrl> HttpUrl::parse(std::string_view text) {
  if (has_control_or_space(text)) return std::nullopt;
  size_t separator = text.find("://");
  if (separator == std::string_view::npos) return std::nullopt;
  HttpUrl url;
  std::string scheme = lower(text.substr(0, separator));
  if (scheme == "https") {
    url.tls = true;
  } else if (scheme != "http") {
    return std::nullopt;
  }
  std::string_view rest = text.substr(separator + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority_text = rest.substr(0, authority_end);
  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority_text.find('@') != std::string_view::npos) return std::nullopt;  // no credentials in URLs

  std::string_view port_text;
  bool has_port = false;
  if (authority_text.starts_with('[')) {
    size_t close = authority_text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = lower(authority_text.substr(1, close - 1));
    if (!is_ipv6(url.host)) return std::nullopt;
    std::string_view after = authority_text.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return std::nullopt;
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority_text.find(':');
    url.host = lower(authority_text.substr(0, colon));
    if (!is_host_name(url.host)) return std::nullopt;
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority_text.substr(colon + 1);
    }
  }
  url.port = default_port(url.tls);
  if (has_port && !port_text.empty()) {  // RFC 3986 §3.2.3: an empty port is the default
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return std::nullopt;
    }
    int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) return std::nullopt;
    url.port = static_cast<uint16_t>(port);
  }
  tail = tail.substr(0, tail.find('#'));  // the fragment is not sent
  // One-character assigns, not `= "/"`: GCC 12 at -O3 warns (-Wrestrict) on a string assigned
  // from a literal once inlined (GCC PR 105651, a false positive fixed in GCC 13).
  if (tail.empty()) {
    url.target.assign(1, '/');
  } else if (tail[0] == '?') {
    url.target = str_cat("/", tail);
  } else {
    url.target = std::string(tail);
  }
  return url;
}

std::optional<HttpUrl> HttpUrl::resolve(std::string_view reference) const {
  if (has_control_or_space(reference)) return std::nullopt;
  reference = reference.substr(0, reference.find('#'));
  if (std::optional<std::string_view> scheme = scheme_of(reference)) {
    // RFC 3986 §5.2.2: a reference with a scheme stands alone.
    if (!iequals(*scheme, "http") && !iequals(*scheme, "https")) return std::nullopt;
    return parse(reference);
  }
  if (reference.starts_with("//")) return parse(str_cat(tls ? "https:" : "http:", reference));

  HttpUrl url = *this;
  auto [base_path, base_query] = split_query(target);
  auto [path, query] = split_query(reference);
  if (path.empty()) {
    url.target = str_cat(base_path, reference.find('?') != std::string_view::npos ? query : base_query);
  } else if (path.starts_with('/')) {
    url.target = str_cat(remove_dot_segments(path), query);
  } else {
    // RFC 3986 §5.2.3: merge with the base path up to its last "/".
    std::string merged(base_path.substr(0, base_path.rfind('/') + 1));
    if (merged.empty()) merged.assign(1, '/');  // as in parse()
    merged.append(path);
    url.target = str_cat(remove_dot_segments(merged), query);
  }
  if (url.target.empty() || url.target[0] != '/') url.target.insert(0, 1, '/');
  return url;
}

bool HttpUrl::same_origin(const HttpUrl& other) const {
  return tls == other.tls && port == other.port && iequals(host, other.host);
}

std::string HttpUrl::authority() const {
  std::string text = host.find(':') != std::string::npos ? str_cat("[", host, "]") : host;
  if (port != default_port(tls)) text.append(":").append(std::to_string(port));
  return text;
}

std::string HttpUrl::to_string() const {
  return std::string(tls ? "https://" : "http://") + authority() + target;
}

}  // namespace popgate::io
