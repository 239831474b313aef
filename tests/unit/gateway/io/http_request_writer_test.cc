// write_http_request: the exact octets of each request, the framing it owns, and what it
// refuses (without showing a refused value).
#include "gateway/io/http_request_writer.h"

#include <gtest/gtest.h>

#include <string>

namespace popgate::io {
namespace {

std::string written(const HttpRequest& request, std::string_view authority = "example.com") {
  Result<std::string> wire = write_http_request(request, authority);
  EXPECT_TRUE(wire.ok()) << wire.error().detail;
  return wire.ok() ? wire.value() : std::string();
}

HttpRequest request(std::string method, std::string target) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

TEST(HttpRequestWriter, GetIsTheRequestLineHostAndTheCallersFieldsInOrder) {
  HttpRequest get = request("GET", "/.well-known/jmap?x=1");
  get.headers = {{"Accept", "application/json"}, {"X-Empty", ""}, {"authorization", "Bearer t"}};
  EXPECT_EQ(written(get, "127.0.0.1:8080"),
            "GET /.well-known/jmap?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: application/json\r\n"
            "X-Empty: \r\nauthorization: Bearer t\r\n\r\n");
  EXPECT_EQ(written(HttpRequest{}, "[::1]:8443"), "GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
}

TEST(HttpRequestWriter, ABodyIsFramedByItsLengthAndSentAsItIs) {
  HttpRequest post = request("POST", "/jmap/api/");
  post.headers = {{"Content-Type", "application/json"}};
  post.body = std::string("{\"a\":\"\0\r\n\"}", 11);
  EXPECT_EQ(written(post),
            "POST /jmap/api/ HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\n"
            "Content-Length: 11\r\n\r\n" +
                post.body);
  HttpRequest del = request("DELETE", "/x");
  del.body = "y";
  EXPECT_EQ(written(del), "DELETE /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\n\r\ny");
}

TEST(HttpRequestWriter, AnEmptyBodyHasALengthOnlyWhereTheMethodExpectsOne) {
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    EXPECT_EQ(written(request(method, "/")),
              std::string(method) + " / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n");
  }
  for (const char* method : {"GET", "HEAD", "DELETE", "OPTIONS"}) {
    EXPECT_EQ(written(request(method, "/")),
              std::string(method) + " / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  }
}

TEST(HttpRequestWriter, TheCallersFramingFieldsAreDroppedWhateverTheirCase) {
  HttpRequest post = request("POST", "/token");
  post.headers = {{"HOST", "evil"},
                  {"content-length", "99"},
                  {"Accept", "*/*"},
                  {"Transfer-Encoding", "chunked"},
                  {"transfer-encoding", "gzip"}};
  post.body = "grant_type=x";
  EXPECT_EQ(written(post),
            "POST /token HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
            "Content-Length: 12\r\n\r\ngrant_type=x");
}

TEST(HttpRequestWriter, MethodsAndTargetsThatCouldBreakTheRequestLineAreRefused) {
  for (const char* method : {"", "GET /", "G\tET", "GET\r\n", "G(E)T", "GÉT"}) {
    Result<std::string> wire = write_http_request(request(method, "/"), "example.com");
    ASSERT_FALSE(wire.ok()) << method;
    EXPECT_EQ(wire.error().kind, ErrorKind::Internal);
    EXPECT_EQ(wire.error().detail, "invalid HTTP request method");
  }
  for (const char* target : {"", "x", "*", "http://example.com/", "/a b", "/a\r\nX: 1", "/a\tb", "/a\x7f"}) {
    Result<std::string> wire = write_http_request(request("GET", target), "example.com");
    ASSERT_FALSE(wire.ok()) << target;
    EXPECT_EQ(wire.error().kind, ErrorKind::Internal);
    EXPECT_EQ(wire.error().detail, "invalid HTTP request target");
  }
  // Every token character is a method character (RFC 9110 §5.6.2).
  EXPECT_TRUE(write_http_request(request("M-SEARCH.~!#$%&'*+^_`|0", "/"), "example.com").ok());
}

TEST(HttpRequestWriter, BadFieldsAreRefusedByNameNeverByValue) {
  for (const char* name : {"", "X Y", "X:Y", "X\r\nY", "Ä"}) {
    HttpRequest get = request("GET", "/");
    get.headers = {{name, "value"}};
    Result<std::string> wire = write_http_request(get, "example.com");
    ASSERT_FALSE(wire.ok()) << name;
    EXPECT_EQ(wire.error().kind, ErrorKind::Internal);
    EXPECT_EQ(wire.error().detail, "invalid HTTP request header name");
  }
  for (const std::string& value : {std::string("Bearer secret\r\nX-Injected: 1"), std::string("secret\n"),
                                   std::string("sec\rret"), std::string("sec\0ret", 7)}) {
    HttpRequest get = request("GET", "/");
    get.headers = {{"Accept", "*/*"}, {"Authorization", value}};
    Result<std::string> wire = write_http_request(get, "example.com");
    ASSERT_FALSE(wire.ok());
    EXPECT_EQ(wire.error().kind, ErrorKind::Internal);
    EXPECT_EQ(wire.error().detail, "invalid value in HTTP request header Authorization");
  }
  // A framing field is checked too before it is dropped: the request is wrong either way.
  HttpRequest get = request("GET", "/");
  get.headers = {{"Content-Length", "1\r\n"}};
  EXPECT_FALSE(write_http_request(get, "example.com").ok());
}

}  // namespace
}  // namespace popgate::io
