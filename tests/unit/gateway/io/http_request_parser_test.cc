// Tests for HttpRequestParser: whole, byte by byte, pipelined, trailing data, limits and garbage.
#include "gateway/io/http_request_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace popgate::io {
namespace {

// One parsed request as text: "GET /metrics 1.1 keep-alive".
std::string render(const HttpServerRequest& request) {
  return std::string(request.method) + " " + request.target + " " + std::to_string(request.version_major) +
         "." + std::to_string(request.version_minor) + (request.keep_alive ? " keep-alive" : " close");
}

struct Outcome {
  std::vector<std::string> requests;
  size_t consumed = 0;
  HttpRequestStatus last = HttpRequestStatus::NeedMore;
  HttpRequestError error = HttpRequestError::None;
};

// Feeds `input` in pieces of `piece` bytes (0: all at once) and collects every request.
Outcome parse_all(std::string_view input, size_t piece = 0, HttpRequestLimits limits = {}) {
  HttpRequestParser parser(limits);
  Outcome outcome;
  std::string pending;
  size_t fed = 0;
  while (fed < input.size()) {
    const size_t n = piece == 0 ? input.size() : std::min(piece, input.size() - fed);
    pending.append(input.substr(fed, n));
    fed += n;
    for (;;) {
      HttpRequestStep step = parser.parse(pending);
      EXPECT_LE(step.consumed, pending.size());
      outcome.consumed += step.consumed;
      pending.erase(0, step.consumed);
      outcome.last = step.status;
      if (step.status == HttpRequestStatus::Error) {
        outcome.error = step.error;
        return outcome;
      }
      if (step.status == HttpRequestStatus::NeedMore) break;
      outcome.requests.push_back(render(parser.request()));
    }
  }
  return outcome;
}

TEST(HttpRequestParserTest, ParsesAGet) {
  Outcome outcome = parse_all("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
  ASSERT_EQ(outcome.requests.size(), 1u);
  EXPECT_EQ(outcome.requests[0], "GET /metrics 1.1 keep-alive");
  EXPECT_EQ(outcome.last, HttpRequestStatus::NeedMore);
}

TEST(HttpRequestParserTest, EverySplitGivesTheSameRequests) {
  const std::string input =
      "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
      "HEAD /readyz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /metrics HTTP/1.0\r\n\r\n";
  const std::vector<std::string> expected = {"GET /healthz 1.1 keep-alive", "POST /x?y=1 1.1 keep-alive",
                                             "HEAD /readyz 1.1 keep-alive", "GET /metrics 1.0 close"};
  for (size_t piece : {0, 1, 2, 3, 7, 16, 100}) {
    Outcome outcome = parse_all(input, piece);
    EXPECT_EQ(outcome.requests, expected) << "piece " << piece;
    EXPECT_EQ(outcome.consumed, input.size()) << "piece " << piece;
  }
}

TEST(HttpRequestParserTest, PipelinedRequestsComeOutOneAtATimeAndLeaveTheRestUntouched) {
  const std::string first = "GET /a HTTP/1.1\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\n\r\n";
  const std::string partial = "GET /c HTT";
  const std::string input = first + second + partial;
  HttpRequestParser parser;
  HttpRequestStep step = parser.parse(input);
  ASSERT_EQ(step.status, HttpRequestStatus::Complete);
  EXPECT_EQ(step.consumed, first.size());
  EXPECT_EQ(parser.request().target, "/a");
  EXPECT_TRUE(parser.between_requests());
  step = parser.parse(std::string_view(input).substr(first.size()));
  ASSERT_EQ(step.status, HttpRequestStatus::Complete);
  EXPECT_EQ(step.consumed, second.size());
  EXPECT_EQ(parser.request().target, "/b");
  step = parser.parse(partial);
  EXPECT_EQ(step.status, HttpRequestStatus::NeedMore);
  EXPECT_EQ(step.consumed, partial.size());
  EXPECT_FALSE(parser.between_requests());
  step = parser.parse("P/1.1\r\n\r\n");
  ASSERT_EQ(step.status, HttpRequestStatus::Complete);
  EXPECT_EQ(parser.request().target, "/c");
}

TEST(HttpRequestParserTest, EmptyInputIsNeedMore) {
  HttpRequestParser parser;
  HttpRequestStep step = parser.parse("");
  EXPECT_EQ(step.status, HttpRequestStatus::NeedMore);
  EXPECT_EQ(step.consumed, 0u);
}

TEST(HttpRequestParserTest, KeepAliveRules) {
  EXPECT_EQ(parse_all("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").requests,
            std::vector<std::string>{"GET / 1.1 close"});
  EXPECT_EQ(parse_all("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").requests,
            std::vector<std::string>{"GET / 1.0 keep-alive"});
  EXPECT_EQ(parse_all("GET / HTTP/1.0\r\n\r\n").requests, std::vector<std::string>{"GET / 1.0 close"});
}

TEST(HttpRequestParserTest, AnUpgradeRequestIsAnsweredAndTheConnectionCloses) {
  Outcome outcome = parse_all("GET /metrics HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_EQ(outcome.requests.size(), 1u);
  EXPECT_EQ(outcome.requests[0], "GET /metrics 1.1 close");
}

TEST(HttpRequestParserTest, MalformedInputIsAnErrorAndStaysOne) {
  for (std::string_view garbage :
       {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "HELLO\r\n\r\n", "GET /\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"}) {
    HttpRequestParser parser;
    HttpRequestStep step = parser.parse(garbage);
    EXPECT_EQ(step.status, HttpRequestStatus::Error) << garbage;
    EXPECT_EQ(step.error, HttpRequestError::Malformed) << garbage;
    EXPECT_FALSE(step.reason.empty());
    EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\n\r\n").status, HttpRequestStatus::Error);
  }
}

TEST(HttpRequestParserTest, AHeadOverTheLimitIsRefusedBeforeItEnds) {
  HttpRequestLimits limits{256};
  const std::string big = "GET / HTTP/1.1\r\nX-Long: " + std::string(1000, 'a');  // no end of head yet
  for (size_t piece : {0, 1, 50}) {
    Outcome outcome = parse_all(big, piece, limits);
    EXPECT_EQ(outcome.last, HttpRequestStatus::Error) << piece;
    EXPECT_EQ(outcome.error, HttpRequestError::HeadTooLarge) << piece;
  }
  Outcome long_target = parse_all("GET /" + std::string(1000, 'a') + " HTTP/1.1\r\n\r\n", 0, limits);
  EXPECT_EQ(long_target.error, HttpRequestError::HeadTooLarge);
  // Exactly at the limit is fine.
  std::string exact = "GET / HTTP/1.1\r\nX: ";
  exact += std::string(256 - exact.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 256u);
  EXPECT_EQ(parse_all(exact, 0, limits).requests.size(), 1u);
}

TEST(HttpRequestParserTest, ABodyOverTheLimitIsRefused) {
  HttpRequestLimits limits{256};
  const std::string request = "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'x');
  for (size_t piece : {0, 1, 64}) {
    Outcome outcome = parse_all(request, piece, limits);
    EXPECT_EQ(outcome.error, HttpRequestError::BodyTooLarge) << piece;
  }
}

TEST(HttpRequestParserTest, TheLimitIsPerRequest) {
  HttpRequestLimits limits{64};
  std::string input;
  for (int i = 0; i < 20; ++i) input += "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  Outcome outcome = parse_all(input, 0, limits);
  EXPECT_EQ(outcome.requests.size(), 20u);
  EXPECT_EQ(outcome.last, HttpRequestStatus::NeedMore);
}

// Random bytes and mangled requests: the parser answers Complete, NeedMore or Error, never
// consumes more than it was given, and an error sticks.
TEST(HttpRequestParserTest, FuzzedInputNeverBreaksTheParser) {
  std::mt19937 random(42);
  const std::string seed = "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  for (int round = 0; round < 2000; ++round) {
    std::string input = seed + seed;
    for (int flips = 0; flips < 3; ++flips)
      input[random() % input.size()] = static_cast<char>(random() % 256);
    if (round % 5 == 0) {
      input.resize(random() % 64);
      for (char& c : input) c = static_cast<char>(random() % 256);
    }
    HttpRequestParser parser({128});
    std::string_view rest = input;
    bool failed = false;
    for (int guard = 0; guard < 100 && !rest.empty(); ++guard) {
      const size_t n = 1 + random() % rest.size();
      HttpRequestStep step = parser.parse(rest.substr(0, n));
      ASSERT_LE(step.consumed, n);
      if (step.status == HttpRequestStatus::Error) {
        failed = true;
        break;
      }
      rest.remove_prefix(step.consumed);
    }
    if (failed) {
      EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\n\r\n").status, HttpRequestStatus::Error);
    }
  }
}

}  // namespace
}  // namespace popgate::io
