// HttpUrl: parsing, RFC 3986 reference resolution, origins and the text form, as tables.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "gateway/io/http_connection.h"

namespace popgate::io {
namespace {

TEST(HttpUrl, ParsesWhatItShould) {
  struct Case {
    const char* text;
    bool tls;
    const char* host;
    uint16_t port;
    const char* target;
  } cases[] = {
      {"http://example.com", false, "example.com", 80, "/"},
      {"https://example.com", true, "example.com", 443, "/"},
      {"https://Mail.Example.COM/jmap/", true, "mail.example.com", 443, "/jmap/"},
      {"HTTP://example.com:8080/a/b?c=d&e", false, "example.com", 8080, "/a/b?c=d&e"},
      {"https://[::1]:8443/jmap/", true, "::1", 8443, "/jmap/"},
      {"http://[2001:DB8::1]/", false, "2001:db8::1", 80, "/"},
      {"http://127.0.0.1:8008/.well-known/jmap", false, "127.0.0.1", 8008, "/.well-known/jmap"},
      {"http://example.com?x=1", false, "example.com", 80, "/?x=1"},
      {"http://example.com/path#fragment", false, "example.com", 80, "/path"},
      {"http://example.com:/p", false, "example.com", 80, "/p"},
      {"https://h/download/{accountId}/{blobId}/{name}?accept={type}", true, "h", 443,
       "/download/{accountId}/{blobId}/{name}?accept={type}"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::optional<HttpUrl> url = HttpUrl::parse(c.text);
    ASSERT_TRUE(url.has_value());
    EXPECT_EQ(url->tls, c.tls);
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->target, c.target);
  }
}

TEST(HttpUrl, RejectsWhatItShould) {
  for (const char* text :
       {"", "example.com/path", "ftp://example.com/", "imap://example.com", "http://", "http:///path",
        "http://user:pass@example.com/", "http://exa mple.com/", "http://example.com/a b",
        "http://example.com:0/", "http://example.com:65536/", "http://example.com:12ab/", "http://[::1/",
        "http://[not-v6]/", "http://[::1]x/", "http://example.com\r\nHost: evil/", "http://example.com/\t"}) {
    EXPECT_FALSE(HttpUrl::parse(text).has_value()) << text;
  }
}

TEST(HttpUrl, ResolvesReferences) {
  struct Case {
    const char* base;
    const char* reference;
    const char* expected;  // nullptr: no result
  } cases[] = {
      {"https://h/jmap/", "api/", "https://h/jmap/api/"},
      {"https://h/jmap/", "../x", "https://h/x"},
      {"https://h/jmap/api/", "../x", "https://h/jmap/x"},
      {"https://h/jmap/api/", "./download/", "https://h/jmap/api/download/"},
      {"https://h/a/b/c", "../../../../x", "https://h/x"},
      {"https://h/a/b/c", "d", "https://h/a/b/d"},
      {"https://h/a/b/c?q=1", "?q=2", "https://h/a/b/c?q=2"},
      {"https://h/a/b/c?q=1", "", "https://h/a/b/c?q=1"},
      {"https://h/a/b/c?q=1", "#frag", "https://h/a/b/c?q=1"},
      {"https://h/a/b/c", "d?x=y", "https://h/a/b/d?x=y"},
      {"https://h:8443/jmap/", "/upload/{accountId}/", "https://h:8443/upload/{accountId}/"},
      {"https://h/jmap/", "/a/./b/../c", "https://h/a/c"},
      {"https://h/jmap/", "http://other:8080/session", "http://other:8080/session"},
      {"https://h/jmap/", "HTTPS://Other/", "https://other/"},
      {"https://h/jmap/", "//cdn.example/blob", "https://cdn.example/blob"},
      {"http://h/jmap/", "//cdn.example:81/blob", "http://cdn.example:81/blob"},
      {"https://[::1]:8443/jmap/", "api/", "https://[::1]:8443/jmap/api/"},
      {"https://h/jmap/", "mailto:alice@example.com", nullptr},
      {"https://h/jmap/", "ftp://h/file", nullptr},
      {"https://h/jmap/", "http://", nullptr},
      {"https://h/jmap/", "a b", nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.base) + " + " + c.reference);
    std::optional<HttpUrl> base = HttpUrl::parse(c.base);
    ASSERT_TRUE(base.has_value());
    std::optional<HttpUrl> resolved = base->resolve(c.reference);
    if (c.expected == nullptr) {
      EXPECT_FALSE(resolved.has_value()) << resolved->to_string();
      continue;
    }
    ASSERT_TRUE(resolved.has_value());
    EXPECT_EQ(resolved->to_string(), c.expected);
  }
}

TEST(HttpUrl, SameOrigin) {
  struct Case {
    const char* a;
    const char* b;
    bool same;
  } cases[] = {
      {"https://h/a", "https://h/b?c", true},
      {"https://h/", "https://H:443/", true},
      {"http://h/", "http://h:80/x", true},
      {"http://h/", "https://h/", false},
      {"http://h/", "http://h:8080/", false},
      {"http://h/", "http://g/", false},
      {"https://[::1]:8443/", "https://[0:0::1]:8443/", false},  // names compared as written
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.a) + " vs " + c.b);
    std::optional<HttpUrl> a = HttpUrl::parse(c.a);
    std::optional<HttpUrl> b = HttpUrl::parse(c.b);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->same_origin(*b), c.same);
    EXPECT_EQ(b->same_origin(*a), c.same);
  }
}

TEST(HttpUrl, ToStringRoundTrips) {
  struct Case {
    const char* text;
    const char* expected;
  } cases[] = {
      {"http://example.com", "http://example.com/"},
      {"https://example.com:443/x", "https://example.com/x"},
      {"http://example.com:443/x", "http://example.com:443/x"},
      {"https://[::1]:8443/jmap/", "https://[::1]:8443/jmap/"},
      {"https://h/a?b=c#d", "https://h/a?b=c"},
  };
  for (const Case& c : cases) {
    std::optional<HttpUrl> url = HttpUrl::parse(c.text);
    ASSERT_TRUE(url.has_value()) << c.text;
    EXPECT_EQ(url->to_string(), c.expected);
    std::optional<HttpUrl> again = HttpUrl::parse(url->to_string());
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->to_string(), c.expected);
  }
}

}  // namespace
}  // namespace popgate::io
