// Tests for DotStuffer: whole input, every split point and byte at a time against a reference.
#include "protocol/pop3/dot_stuffer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/protocol/pop3/dot_stuffer_reference.h"

namespace popgate::pop3 {
namespace {

using namespace std::string_literals;

// What a POP3 client does with the multi-line response: undo the stuffing up to ".\r\n".
std::string unstuff(std::string_view wire) {
  std::string out;
  size_t pos = 0;
  while (pos < wire.size()) {
    const size_t end = wire.find("\r\n", pos);
    if (end == std::string_view::npos) return "<unterminated line>";
    std::string_view line = wire.substr(pos, end - pos);
    pos = end + 2;
    if (line == ".") return pos == wire.size() ? out : "<data after terminator>";
    if (line.starts_with('.')) line.remove_prefix(1);
    out.append(line);
    out += "\r\n";
  }
  return "<no terminator>";
}

struct Stuffed {
  std::string wire;
  uint64_t octets = 0;
};

Stuffed stuff(const std::vector<std::string_view>& chunks) {
  DotStuffer stuffer;
  Stuffed result;
  for (std::string_view chunk : chunks) stuffer.feed(chunk, result.wire);
  stuffer.finish(result.wire);
  result.octets = stuffer.message_octets();
  return result;
}

const std::string kTricky[] = {
    ""s,
    "."s,
    ".."s,
    ".\r\n"s,
    "..\r\n"s,
    "\r\n.\r\n"s,
    "a\r\n.\r\nb"s,
    "a\r\n.b\r\n..c\r\n"s,
    ".leading first line\r\nsecond\r\n"s,
    "bare\nlf\n.dot\n"s,
    "\n.\n.\n"s,
    "bare\rcr\r.not a line start\r\n"s,
    "\r"s,
    "\n"s,
    "\r\r\n"s,
    "\r\n\r\n"s,
    "a\r"s,
    "a\r\r"s,
    "\r.\r\n"s,
    "no final newline"s,
    "ends with dot\r\n."s,
    "x\r\n.\r"s,
    "mixed\r\n\n\r\r\n.\n.."s,
    "Subject: hi\r\n\r\nbody\r\n.\r\n..\r\n...\r\n"s,
    "nul\0byte\r\n.\0\r\n"s,
    "\xff\xfe high octets\n.\xff\n"s,
};

TEST(DotStuffer, EmptyBodyIsJustTheTerminator) {
  const Stuffed s = stuff({});
  EXPECT_EQ(s.wire, ".\r\n");
  EXPECT_EQ(s.octets, 0u);
}

TEST(DotStuffer, KnownOutputs) {
  EXPECT_EQ(stuff({"a\r\nb\r\n"}).wire, "a\r\nb\r\n.\r\n");
  EXPECT_EQ(stuff({".a\r\n"}).wire, "..a\r\n.\r\n");
  EXPECT_EQ(stuff({".\r\n"}).wire, "..\r\n.\r\n");
  EXPECT_EQ(stuff({"a\nb"}).wire, "a\r\nb\r\n.\r\n");
  EXPECT_EQ(stuff({"a\rb"}).wire, "a\rb\r\n.\r\n");
  EXPECT_EQ(stuff({"a\r\n", ".b"}).wire, "a\r\n..b\r\n.\r\n");
  EXPECT_EQ(stuff({"a\r", "\n.b"}).wire, "a\r\n..b\r\n.\r\n");
  EXPECT_EQ(stuff({"a\r", "\r\n"}).wire, "a\r\r\n.\r\n");
  EXPECT_EQ(stuff({"a\r"}).wire, "a\r\r\n.\r\n");
  EXPECT_EQ(stuff({"\r.x"}).wire, "\r.x\r\n.\r\n");  // after a bare CR the line goes on
}

TEST(DotStuffer, CountsNormalisedOctetsWithoutStuffing) {
  EXPECT_EQ(stuff({"a\nb\n"}).octets, 6u);       // "a\r\nb\r\n"
  EXPECT_EQ(stuff({"..\r\n.\r\n"}).octets, 7u);  // the stuffing dots are not counted
  EXPECT_EQ(stuff({"no newline"}).octets, 10u);  // nor the CRLF finish() adds
  EXPECT_EQ(stuff({"a\r"}).octets, 2u);          // a trailing bare CR is content
  EXPECT_EQ(stuff({"a\r", "\n"}).octets, 3u);
}

TEST(DotStuffer, MatchesReferenceOnWholeInput) {
  for (const std::string& body : kTricky) {
    const Stuffed s = stuff({body});
    EXPECT_EQ(s.wire, reference_wire(body)) << testing::PrintToString(body);
    EXPECT_EQ(s.octets, normalise(body).size()) << testing::PrintToString(body);
  }
}

TEST(DotStuffer, MatchesReferenceAtEverySplitPoint) {
  for (const std::string& body : kTricky) {
    const std::string expected = reference_wire(body);
    for (size_t split = 0; split <= body.size(); ++split) {
      const std::string_view view(body);
      const Stuffed s = stuff({view.substr(0, split), view.substr(split)});
      EXPECT_EQ(s.wire, expected) << testing::PrintToString(body) << " split at " << split;
      EXPECT_EQ(s.octets, normalise(body).size());
    }
  }
}

TEST(DotStuffer, MatchesReferenceOneByteAtATime) {
  for (const std::string& body : kTricky) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < body.size(); ++i) bytes.push_back(std::string_view(body).substr(i, 1));
    const Stuffed s = stuff(bytes);
    EXPECT_EQ(s.wire, reference_wire(body)) << testing::PrintToString(body);
    EXPECT_EQ(s.octets, normalise(body).size());
  }
}

TEST(DotStuffer, EmptyChunksChangeNothing) {
  EXPECT_EQ(stuff({"", "a\r", "", "\n", "", ".b", ""}).wire, "a\r\n..b\r\n.\r\n");
}

TEST(DotStuffer, UnstuffingGivesBackTheNormalisedBody) {
  for (const std::string& body : kTricky) {
    std::string expected = normalise(body);
    if (!expected.empty() && !expected.ends_with("\r\n")) expected += "\r\n";
    EXPECT_EQ(unstuff(stuff({body}).wire), expected) << testing::PrintToString(body);
  }
}

TEST(DotStuffer, AppendsToExistingOutput) {
  DotStuffer stuffer;
  std::string out = "+OK 3 octets\r\n";
  stuffer.feed(".a\n", out);
  stuffer.finish(out);
  EXPECT_EQ(out, "+OK 3 octets\r\n..a\r\n.\r\n");
}

}  // namespace
}  // namespace popgate::pop3
