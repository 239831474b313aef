// DotStuffer on long runs without a line break (an earlier version searched a 1 KiB window at a
// time; benchmarks/README.md, hot spots): long lines, dots after a long run, bare CRs.
#include <gtest/gtest.h>

#include <string>

#include "protocol/pop3/dot_stuffer.h"

namespace popgate::pop3 {
namespace {

std::string stuff_whole(std::string_view body) {
  DotStuffer stuffer;
  std::string out;
  stuffer.feed(body, out);
  stuffer.finish(out);
  return out;
}

TEST(DotStufferLongRunTest, LineLongerThanTheSearchWindowIsCopiedWhole) {
  const std::string line(5000, 'x');
  EXPECT_EQ(stuff_whole(line + "\r\n.next\r\n"), line + "\r\n..next\r\n.\r\n");
}

TEST(DotStufferLongRunTest, ADotInsideALongLineIsNotStuffed) {
  // Past where the old window ended, inside the line: the octet there is not at a line start.
  std::string line(1024, 'a');
  line += ".after the boundary";
  EXPECT_EQ(stuff_whole(line + "\n"), line + "\r\n.\r\n");
}

TEST(DotStufferLongRunTest, BareCarriageReturnsAndLongLinesPassThroughUnchanged) {
  std::string body;
  for (int i = 0; i < 3000; ++i) body += (i % 7 == 0) ? '\r' : 'z';
  body += std::string(2000, 'y') + "\r\n";
  EXPECT_EQ(stuff_whole(body), body + ".\r\n");
}

TEST(DotStufferLongRunTest, ByteAtATimeEqualsWhole) {
  std::string body = std::string(3000, 'q') + "\n." + std::string(1500, '\r') + "\r\n.x\n";
  DotStuffer stuffer;
  std::string out;
  for (char c : body) stuffer.feed(std::string_view(&c, 1), out);
  stuffer.finish(out);
  EXPECT_EQ(out, stuff_whole(body));
}

}  // namespace
}  // namespace popgate::pop3
