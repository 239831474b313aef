// Tests for TopFilter: header, blank line and m body lines, at every split point.
#include "protocol/pop3/top_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace popgate::pop3 {
namespace {

using namespace std::string_literals;

// On the whole message: lines (each with its LF) up to and including the first empty one,
// then m more. A line of nothing but CRs before its LF counts as empty.
std::string reference_top(std::string_view message, uint64_t m) {
  std::string out;
  bool in_body = false;
  size_t pos = 0;
  while (pos < message.size()) {
    const size_t lf = message.find('\n', pos);
    const size_t end = lf == std::string_view::npos ? message.size() : lf + 1;
    const std::string_view line = message.substr(pos, end - pos);
    pos = end;
    if (in_body) {
      if (m == 0) break;
      out.append(line);
      if (lf != std::string_view::npos) --m;
      continue;
    }
    out.append(line);
    if (lf != std::string_view::npos && line.find_first_not_of("\r\n") == std::string_view::npos)
      in_body = true;
  }
  return out;
}

std::string top(const std::vector<std::string_view>& chunks, uint64_t m, bool* done = nullptr) {
  TopFilter filter(m);
  std::string out;
  for (std::string_view chunk : chunks) {
    const size_t keep = filter.feed(chunk);
    EXPECT_LE(keep, chunk.size());
    out.append(chunk.substr(0, keep));
  }
  if (done != nullptr) *done = filter.done();
  return out;
}

const std::string kMessages[] = {
    "From: a\r\nSubject: b\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"s,
    "From: a\nSubject: b\n\nline 1\nline 2\nline 3\n"s,  // bare LF throughout
    "From: a\r\n\r\n\r\n\r\nafter blanks\r\n"s,          // empty body lines count as lines
    "From: a\r\nSubject: no blank line\r\n"s,            // everything is header
    "From: a\r\n\r\nlast line without newline"s,
    "\r\nbody right away\r\nsecond\r\n"s,  // empty header
    "From: a\r\n\r\n"s,
    "X: \r\r\n\r\nbody\r\n"s,
    ""s,
};

TEST(TopFilter, KnownOutputs) {
  const std::string crlf = kMessages[0];
  EXPECT_EQ(top({crlf}, 0), "From: a\r\nSubject: b\r\n\r\n");
  EXPECT_EQ(top({crlf}, 1), "From: a\r\nSubject: b\r\n\r\nline 1\r\n");
  EXPECT_EQ(top({crlf}, 2), "From: a\r\nSubject: b\r\n\r\nline 1\r\nline 2\r\n");
  EXPECT_EQ(top({crlf}, 3), crlf);
  EXPECT_EQ(top({crlf}, 1000), crlf);
  EXPECT_EQ(top({kMessages[1]}, 1), "From: a\nSubject: b\n\nline 1\n");
  EXPECT_EQ(top({kMessages[2]}, 2), "From: a\r\n\r\n\r\n\r\n");
  EXPECT_EQ(top({kMessages[5]}, 0), "\r\n");
}

TEST(TopFilter, DoneOnceTheLimitIsReached) {
  bool done = false;
  EXPECT_EQ(top({kMessages[0]}, 1, &done), "From: a\r\nSubject: b\r\n\r\nline 1\r\n");
  EXPECT_TRUE(done);
  top({kMessages[0]}, 3, &done);
  EXPECT_TRUE(done);  // the third LF reached the limit exactly
  top({kMessages[0]}, 4, &done);
  EXPECT_FALSE(done);  // m larger than the body: the message simply ends
}

TEST(TopFilter, FeedsNothingAfterDone) {
  TopFilter filter(0);
  EXPECT_EQ(filter.feed("A: b\r\n\r\nbody\r\n"), 8u);
  EXPECT_TRUE(filter.done());
  EXPECT_EQ(filter.feed("more\r\n"), 0u);
  EXPECT_EQ(filter.feed(""), 0u);
}

TEST(TopFilter, NoBlankLinePassesEverything) {
  bool done = true;
  EXPECT_EQ(top({kMessages[3]}, 0, &done), kMessages[3]);
  EXPECT_FALSE(done);
}

TEST(TopFilter, MatchesReferenceOnWholeInput) {
  for (const std::string& message : kMessages) {
    for (uint64_t m : {0u, 1u, 2u, 3u, 10u}) {
      EXPECT_EQ(top({message}, m), reference_top(message, m))
          << testing::PrintToString(message) << " m=" << m;
    }
  }
}

TEST(TopFilter, MatchesReferenceAtEverySplitPoint) {
  for (const std::string& message : kMessages) {
    for (uint64_t m : {0u, 1u, 2u, 10u}) {
      const std::string expected = reference_top(message, m);
      for (size_t split = 0; split <= message.size(); ++split) {
        const std::string_view view(message);
        EXPECT_EQ(top({view.substr(0, split), view.substr(split)}, m), expected)
            << testing::PrintToString(message) << " m=" << m << " split at " << split;
      }
    }
  }
}

TEST(TopFilter, MatchesReferenceOneByteAtATime) {
  for (const std::string& message : kMessages) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < message.size(); ++i) bytes.push_back(std::string_view(message).substr(i, 1));
    for (uint64_t m : {0u, 1u, 2u, 10u}) {
      EXPECT_EQ(top(bytes, m), reference_top(message, m)) << testing::PrintToString(message) << " m=" << m;
    }
  }
}

}  // namespace
}  // namespace popgate::pop3
