// HttpResponseParser: every response shape whole, at every split point, one byte at a time,
// with trailing bytes left alone; malformed and truncated input; random bytes never crash.
#include "gateway/io/http_response_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace popgate::io {
namespace {

// What the parser made of one response (or of the error that stopped it).
struct Parsed {
  int heads = 0;
  int completes = 0;
  int status = 0;
  HttpHeaders headers;
  HttpHeaders trailers;
  std::string body;
  bool keep_alive = false;
  bool error = false;
  HttpResponseParseError error_kind = HttpResponseParseError::None;
  std::string reason;
  std::string rest;  // the input after the response, untouched

  bool operator==(const Parsed&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Parsed& p) {
  out << "{heads=" << p.heads << " completes=" << p.completes << " status=" << p.status << " headers=[";
  for (const auto& [name, value] : p.headers) out << name << ": " << value << "; ";
  out << "] body=\"" << p.body << "\" keep_alive=" << p.keep_alive << " error=" << p.error << " reason=\""
      << p.reason << "\" rest=\"" << p.rest << "\"}";
  return out;
}

// Feeds `pieces` in order and takes one response; `eof` calls finish() after the last piece.
Parsed parse_pieces(const std::vector<std::string>& pieces, bool head_request = false, bool eof = false,
                    HttpResponseLimits limits = {}) {
  HttpResponseParser parser(limits);
  if (head_request) parser.expect_head_response();
  Parsed parsed;
  auto record = [&](const HttpResponseStep& step) -> bool {  // true when the response is over
    if (step.status == HttpResponseParseStatus::Error) {
      parsed.error = true;
      parsed.error_kind = step.error;
      parsed.reason = step.reason;
      return true;
    }
    switch (step.event) {
      case HttpResponseEvent::Head:
        ++parsed.heads;
        parsed.status = parser.head().status;
        parsed.headers = parser.head().headers;
        EXPECT_EQ(parsed.completes, 0);
        break;
      case HttpResponseEvent::Body:
        EXPECT_EQ(parsed.heads, 1) << "body before the head";
        EXPECT_FALSE(step.body.empty());
        parsed.body.append(step.body);
        break;
      case HttpResponseEvent::MessageComplete:
        ++parsed.completes;
        parsed.keep_alive = parser.keep_alive();
        parsed.trailers = parser.trailers();
        return true;
      case HttpResponseEvent::None:
        break;
    }
    return false;
  };
  for (size_t i = 0; i < pieces.size(); ++i) {
    std::string_view input = pieces[i];
    for (;;) {
      HttpResponseStep step = parser.parse(input);
      EXPECT_LE(step.consumed, input.size());
      if (step.status == HttpResponseParseStatus::Complete && step.event == HttpResponseEvent::Body) {
        // A view into the input, not a copy.
        EXPECT_GE(step.body.data(), input.data());
        EXPECT_LE(step.body.data() + step.body.size(), input.data() + input.size());
      }
      input.remove_prefix(step.consumed);
      if (step.status == HttpResponseParseStatus::NeedMore) {
        EXPECT_TRUE(input.empty());
        break;
      }
      if (record(step)) {
        parsed.rest = std::string(input);
        for (size_t j = i + 1; j < pieces.size(); ++j) parsed.rest += pieces[j];
        return parsed;
      }
    }
  }
  if (eof) {
    for (;;) {
      HttpResponseStep step = parser.finish();
      if (step.status == HttpResponseParseStatus::NeedMore || record(step)) break;
    }
  }
  return parsed;
}

Parsed parse_whole(const std::string& wire, bool head_request = false, bool eof = false) {
  return parse_pieces({wire}, head_request, eof);
}

// The same result whole, at every split point into two feeds, and one byte at a time.
void expect_same_at_every_split(const std::string& wire, const Parsed& expected, bool head_request = false,
                                bool eof = false) {
  EXPECT_EQ(parse_whole(wire, head_request, eof), expected) << "whole";
  for (size_t split = 0; split <= wire.size(); ++split) {
    EXPECT_EQ(parse_pieces({wire.substr(0, split), wire.substr(split)}, head_request, eof), expected)
        << "split at " << split;
  }
  std::vector<std::string> bytes;
  for (char c : wire) bytes.emplace_back(1, c);
  EXPECT_EQ(parse_pieces(bytes, head_request, eof), expected) << "one byte at a time";
}

struct Shape {
  const char* name;
  std::string wire;
  bool head_request = false;
  bool eof = false;  // the body ends with the connection
  Parsed expected;
};

std::vector<Shape> shapes() {
  std::vector<Shape> all;
  {
    Shape s{"content-length json",
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
            "{\"ok\": true }"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Content-Type", "application/json"}, {"Content-Length", "13"}},
                  .body = "{\"ok\": true }",
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"chunked with extensions and trailers",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5;name=value\r\nhello\r\n6;x;y=\"q\"\r\n world\r\nA\r\n, chunked!\r\n0\r\n"
            "X-Checksum: abc\r\nX-Other: 1\r\n\r\n"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Transfer-Encoding", "chunked"}},
                  .trailers = {{"X-Checksum", "abc"}, {"X-Other", "1"}},
                  .body = "hello world, chunked!",
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"chunked without trailers",
            "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 201,
                  .headers = {{"transfer-encoding", "chunked"}},
                  .body = "abc",
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"delimited by the close",
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the very end\r\n", false, true};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Content-Type", "text/plain"}},
                  .body = "until the very end\r\n",
                  .keep_alive = false};
    all.push_back(s);
  }
  {
    Shape s{"empty body delimited by the close", "HTTP/1.1 200 OK\r\n\r\n", false, true};
    s.expected = {.heads = 1, .completes = 1, .status = 200, .keep_alive = false};
    all.push_back(s);
  }
  {
    Shape s{"204 then the next response", "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\nHTTP/1.1 200 OK\r\n"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 204,
                  .headers = {{"X-A", "1"}},
                  .keep_alive = true,
                  .rest = "HTTP/1.1 200 OK\r\n"};
    all.push_back(s);
  }
  {
    Shape s{"304 with the length of what it did not send",
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 304,
                  .headers = {{"Content-Length", "1234"}},
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"100 Continue then 200",
            "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Content-Length", "2"}},
                  .body = "ok",
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    // RFC 9110 §15.2: a 1xx never has a body, whatever it says.
    Shape s{"interim response with a length",
            "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Content-Length", "5"}},
                  .body = "final",
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"multiple Set-Cookie in order",
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nContent-Length: 0\r\nSet-Cookie: b=2\r\n"
            "set-cookie: c=3\r\n\r\n"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Set-Cookie", "a=1; Path=/"},
                              {"Content-Length", "0"},
                              {"Set-Cookie", "b=2"},
                              {"set-cookie", "c=3"}},
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    // Cyrus announces h2c on plain responses: it is not an upgrade.
    Shape s{"Connection: Upgrade and Upgrade: h2c on a 200",
            "HTTP/1.1 200 OK\r\nConnection: Upgrade, Keep-Alive\r\nUpgrade: h2c\r\nContent-Length: "
            "4\r\n\r\njmap"};
    s.expected = {
        .heads = 1,
        .completes = 1,
        .status = 200,
        .headers = {{"Connection", "Upgrade, Keep-Alive"}, {"Upgrade", "h2c"}, {"Content-Length", "4"}},
        .body = "jmap",
        .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"two pipelined responses",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
            "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\ntwo"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Content-Length", "3"}},
                  .body = "one",
                  .keep_alive = true,
                  .rest = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\ntwo"};
    all.push_back(s);
  }
  {
    Shape s{"HTTP/1.0 without a length", "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody of 1.0", false, true};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Server", "old"}},
                  .body = "body of 1.0",
                  .keep_alive = false};
    all.push_back(s);
  }
  {
    Shape s{"HTTP/1.0 keep-alive",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Connection", "keep-alive"}, {"Content-Length", "2"}},
                  .body = "hi",
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"HTTP/1.0 with a length but no keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Content-Length", "2"}},
                  .body = "hi",
                  .keep_alive = false};
    all.push_back(s);
  }
  {
    Shape s{"Connection: close",
            "HTTP/1.1 503 Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 503,
                  .headers = {{"Connection", "close"}, {"Content-Length", "4"}},
                  .body = "busy",
                  .keep_alive = false};
    all.push_back(s);
  }
  {
    Shape s{"HEAD response", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK", true};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"Content-Length", "100"}},
                  .keep_alive = true,
                  .rest = "HTTP/1.1 200 OK"};
    all.push_back(s);
  }
  {
    Shape s{"folded and padded values",
            "HTTP/1.1 200 OK\r\nX-Folded: first  \r\n  second\r\n\tthird\r\nX-Empty:\r\nX-Padded:   v  \r\n"
            "Content-Length: 0\r\n\r\n"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 200,
                  .headers = {{"X-Folded", "first    second\tthird"},
                              {"X-Empty", ""},
                              {"X-Padded", "v"},
                              {"Content-Length", "0"}},
                  .keep_alive = true};
    all.push_back(s);
  }
  {
    Shape s{"trailing bytes after the response",
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!\r\nJUNK"};
    s.expected = {.heads = 1,
                  .completes = 1,
                  .status = 401,
                  .headers = {{"Content-Length", "5"}},
                  .body = "nope!",
                  .keep_alive = true,
                  .rest = "\r\nJUNK"};
    all.push_back(s);
  }
  return all;
}

TEST(HttpResponseParser, EveryShapeAtEverySplitPoint) {
  for (const Shape& shape : shapes()) {
    SCOPED_TRACE(shape.name);
    expect_same_at_every_split(shape.wire, shape.expected, shape.head_request, shape.eof);
  }
}

TEST(HttpResponseParser, PipelinedResponsesOneAfterTheOther) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  HttpResponseParser parser;
  std::string_view input = wire;
  std::vector<std::string> bodies;
  std::vector<int> statuses;
  std::string body;
  for (;;) {
    HttpResponseStep step = parser.parse(input);
    input.remove_prefix(step.consumed);
    ASSERT_NE(step.status, HttpResponseParseStatus::Error) << step.reason;
    if (step.status == HttpResponseParseStatus::NeedMore) break;
    if (step.event == HttpResponseEvent::Head) statuses.push_back(parser.head().status);
    if (step.event == HttpResponseEvent::Body) body.append(step.body);
    if (step.event == HttpResponseEvent::MessageComplete) {
      EXPECT_TRUE(parser.keep_alive());
      EXPECT_TRUE(parser.between_responses());
      bodies.push_back(std::exchange(body, {}));
    }
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 204}));
  EXPECT_EQ(bodies, (std::vector<std::string>{"one", "two", ""}));
  EXPECT_TRUE(input.empty());
}

TEST(HttpResponseParser, BodyLengthsForTheErrorMessages) {
  HttpResponseParser parser;
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  std::string_view input = wire;
  for (;;) {
    HttpResponseStep step = parser.parse(input);
    input.remove_prefix(step.consumed);
    if (step.status != HttpResponseParseStatus::Complete) break;
  }
  EXPECT_EQ(parser.body_bytes(), 3u);
  EXPECT_EQ(parser.expected_body_bytes(), 10u);
  EXPECT_FALSE(parser.chunked());
  HttpResponseStep end = parser.finish();
  EXPECT_EQ(end.status, HttpResponseParseStatus::Error);
  EXPECT_EQ(end.error, HttpResponseParseError::Truncated);
  EXPECT_EQ(end.reason, "connection closed after 3 of 10 body bytes");
  // Every later step fails the same way.
  EXPECT_EQ(parser.parse("more").reason, end.reason);
  EXPECT_EQ(parser.finish().reason, end.reason);
}

TEST(HttpResponseParser, TruncatedResponsesSayWhere) {
  struct Case {
    std::string wire;
    std::string reason;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(1234, 'x'),
       "connection closed after 1234 of 5000 body bytes"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789",
       "connection closed mid chunked body after 10 body bytes"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n",
       "connection closed mid chunked body after 3 body bytes"},
      {"HTTP/1.1 200 OK\r\nContent-Le", "connection closed in the response head"},
      {"HTTP/1.1 100 Continue\r\n\r\n", "connection closed in the response head"},
      {"H", "connection closed in the response head"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.wire.substr(0, 60));
    for (size_t split = 0; split <= c.wire.size(); split += std::max<size_t>(1, c.wire.size() / 50)) {
      Parsed parsed = parse_pieces({c.wire.substr(0, split), c.wire.substr(split)}, false, true);
      EXPECT_TRUE(parsed.error);
      EXPECT_EQ(parsed.error_kind, HttpResponseParseError::Truncated);
      EXPECT_EQ(parsed.reason, c.reason);
      EXPECT_EQ(parsed.completes, 0);
    }
  }
}

TEST(HttpResponseParser, EndBetweenResponsesIsClean) {
  HttpResponseParser parser;
  EXPECT_TRUE(parser.between_responses());
  EXPECT_EQ(parser.finish().status, HttpResponseParseStatus::NeedMore);
  Parsed parsed = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, true);
  EXPECT_EQ(parsed.completes, 1);
  EXPECT_FALSE(parsed.error);
}

TEST(HttpResponseParser, MalformedResponsesAreErrorsAtEverySplit) {
  struct Case {
    const char* name;
    std::string wire;
    HttpResponseParseError kind;
  } cases[] = {
      {"bad status code", "HTTP/1.1 abc OK\r\n\r\n", HttpResponseParseError::Malformed},
      {"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n", HttpResponseParseError::Malformed},
      {"an IMAP greeting", "* OK [CAPABILITY IMAP4rev1] ready\r\n", HttpResponseParseError::Malformed},
      {"bad version", "HTTP/x.1 200 OK\r\n\r\n", HttpResponseParseError::Malformed},
      {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
       HttpResponseParseError::Malformed},
      {"chunk without its CRLF",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
       HttpResponseParseError::Malformed},
      {"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
       HttpResponseParseError::Malformed},
      {"two content lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       HttpResponseParseError::Malformed},
      {"space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\na",
       HttpResponseParseError::Malformed},
      {"NUL in a header", std::string("HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n", 30),
       HttpResponseParseError::Malformed},
      {"switching protocols",
       "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
       HttpResponseParseError::Malformed},
      {"too large headers",
       "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\nContent-Length: 0\r\n\r\n",
       HttpResponseParseError::TooLarge},
      {"too many headers",
       "HTTP/1.1 200 OK\r\n" +
           [] {
             std::string many;
             for (int i = 0; i < 20000; ++i) many += "X-" + std::to_string(i) + ":\r\n";
             return many;
           }() +
           "\r\n",
       HttpResponseParseError::TooLarge},
      {"too much whitespace", "HTTP/1.1 200 OK\r\nX-A:" + std::string(70 * 1024, ' ') + "v\r\n\r\n",
       HttpResponseParseError::TooLarge},
      {"too large trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + std::string(70 * 1024, 't') +
           "\r\n\r\n",
       HttpResponseParseError::TooLarge},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Parsed whole = parse_whole(c.wire);
    EXPECT_TRUE(whole.error);
    EXPECT_EQ(whole.error_kind, c.kind) << whole.reason;
    EXPECT_FALSE(whole.reason.empty());
    EXPECT_EQ(whole.completes, 0);
    const size_t stride = std::max<size_t>(1, c.wire.size() / 200);
    for (size_t split = 0; split <= c.wire.size(); split += stride) {
      Parsed parsed = parse_pieces({c.wire.substr(0, split), c.wire.substr(split)});
      EXPECT_TRUE(parsed.error) << "split at " << split;
      EXPECT_EQ(parsed.error_kind, c.kind) << "split at " << split << ": " << parsed.reason;
    }
  }
}

TEST(HttpResponseParser, ErrorReasonsComeFromLlhttp) {
  Parsed parsed = parse_whole("HTTP/1.1 abc OK\r\n\r\n");
  EXPECT_EQ(parsed.reason, "Invalid response status");
  parsed = parse_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(parsed.reason, "Invalid character in chunk size");
  parsed = parse_whole("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  EXPECT_EQ(parsed.reason, "unexpected 101 Switching Protocols");
}

TEST(HttpResponseParser, HeaderLimitIsConfigurable) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nX-A: " + std::string(200, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  EXPECT_FALSE(parse_pieces({wire}, false, false, {.max_header_bytes = 1024}).error);
  Parsed parsed = parse_pieces({wire}, false, false, {.max_header_bytes = 100});
  EXPECT_TRUE(parsed.error);
  EXPECT_EQ(parsed.error_kind, HttpResponseParseError::TooLarge);
  EXPECT_EQ(parsed.reason, "response headers too large");
  // A large body is not a large head.
  const std::string big_body = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b');
  parsed = parse_pieces({big_body}, false, false, {.max_header_bytes = 100});
  EXPECT_FALSE(parsed.error) << parsed.reason;
  EXPECT_EQ(parsed.body.size(), 5000u);
}

// Found by fuzz_http_response_parser: a malformed header past the head limit was reported as
// Malformed when the head arrived in one read, but as TooLarge when it arrived in pieces.
TEST(HttpResponseParser, HeadLimitTripsAtTheSameOctetWhateverTheSplit) {
  // Whitespace is not stored, so only the count of raw head octets reaches the limit.
  const std::string wire =
      "HTTP/1.1 200 OK\r\nX-A:" + std::string(200, ' ') + "v\r\nX-B: a" + std::string(1, '\0') + "b\r\n\r\n";
  const HttpResponseLimits limits{.max_header_bytes = 100};
  Parsed whole = parse_pieces({wire}, false, false, limits);
  EXPECT_EQ(whole.error_kind, HttpResponseParseError::TooLarge) << whole.reason;
  for (size_t split = 1; split < wire.size(); ++split) {
    Parsed parsed = parse_pieces({wire.substr(0, split), wire.substr(split)}, false, false, limits);
    EXPECT_EQ(parsed.error_kind, HttpResponseParseError::TooLarge)
        << "split at " << split << ": " << parsed.reason;
  }
  // Within the limit, the same malformed header is Malformed, also whatever the split.
  const HttpResponseLimits roomy{.max_header_bytes = 1024};
  EXPECT_EQ(parse_pieces({wire}, false, false, roomy).error_kind, HttpResponseParseError::Malformed);
  EXPECT_EQ(parse_pieces({wire.substr(0, 30), wire.substr(30)}, false, false, roomy).error_kind,
            HttpResponseParseError::Malformed);
}

// Found by fuzz_http_response_parser: the octets between two responses (a stray CRLF) counted
// toward the next head only when they came in the same read as it, so a head at the limit
// passed or failed depending on the split.
TEST(HttpResponseParser, OctetsBeforeAHeadCountWhateverTheSplit) {
  const std::string first = "HTTP/1.1 204 No Content\r\n\r\n";
  const std::string start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: ";
  const std::string second = start + std::string(100 - start.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(second.size(), 100u);
  auto fails = [](const std::vector<std::string>& pieces) {
    HttpResponseParser parser({.max_header_bytes = 100});
    for (const std::string& piece : pieces) {
      std::string_view input = piece;
      for (;;) {
        HttpResponseStep step = parser.parse(input);
        if (step.status == HttpResponseParseStatus::Error) return true;
        input.remove_prefix(step.consumed);
        if (step.status == HttpResponseParseStatus::NeedMore) break;
      }
    }
    return false;
  };
  for (const bool stray_crlf : {false, true}) {
    const std::string wire = first + (stray_crlf ? "\r\n" : "") + second;
    EXPECT_EQ(fails({wire}), stray_crlf);  // 100 octets fit the limit, 102 do not
    for (size_t split = 1; split < wire.size(); ++split) {
      EXPECT_EQ(fails({wire.substr(0, split), wire.substr(split)}), stray_crlf) << "split at " << split;
    }
  }
}

// Parses or returns an error: never a crash, never an event out of order.
void expect_parses_or_errors(const std::string& bytes, std::mt19937& random) {
  HttpResponseParser parser;
  std::string_view input = bytes;
  bool head = false;
  bool failed = false;
  int steps = 0;
  while (!input.empty() && !failed) {
    size_t piece = std::min<size_t>(input.size(), 1 + random() % 64);
    std::string_view fed = input.substr(0, piece);
    for (;;) {
      HttpResponseStep step = parser.parse(fed);
      ASSERT_LT(++steps, 100000);
      ASSERT_LE(step.consumed, fed.size());
      fed.remove_prefix(step.consumed);
      if (step.status == HttpResponseParseStatus::NeedMore) break;
      if (step.status == HttpResponseParseStatus::Error) {
        EXPECT_FALSE(step.reason.empty());
        failed = true;
        break;
      }
      if (step.event == HttpResponseEvent::Head) {
        EXPECT_FALSE(head);
        head = true;
      }
      if (step.event == HttpResponseEvent::Body) {
        EXPECT_TRUE(head);
      }
      if (step.event == HttpResponseEvent::MessageComplete) {
        EXPECT_TRUE(head);
        head = false;
      }
    }
    input.remove_prefix(piece - fed.size());
  }
  HttpResponseStep end = parser.finish();
  EXPECT_TRUE(end.status != HttpResponseParseStatus::Error || !end.reason.empty());
}

TEST(HttpResponseParser, RandomBytesParseOrError) {
  std::mt19937 random(20240611);
  const char alphabet[] =
      "HTTP/1.1 200 OK\r\n:;0123456789abcdefABCDEF \t-Content-LengthTransfer-Encodingchunked";
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(random() % 300, '\0');
    for (char& c : bytes) {
      c = random() % 2 ? static_cast<char>(random() % 256) : alphabet[random() % (sizeof(alphabet) - 1)];
    }
    if (i % 2 == 0) bytes.insert(0, "HTTP/1.1 200 OK\r\n");
    expect_parses_or_errors(bytes, random);
  }
}

TEST(HttpResponseParser, MutatedResponsesParseOrError) {
  std::mt19937 random(7);
  std::vector<Shape> all = shapes();
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = all[random() % all.size()].wire;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      size_t at = random() % bytes.size();
      switch (random() % 3) {
        case 0:
          bytes[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          bytes.erase(at, 1 + random() % 8);
          break;
        default:
          bytes.insert(at, std::string(1 + random() % 4, static_cast<char>(random() % 256)));
          break;
      }
    }
    expect_parses_or_errors(bytes, random);
  }
}

}  // namespace
}  // namespace popgate::io
