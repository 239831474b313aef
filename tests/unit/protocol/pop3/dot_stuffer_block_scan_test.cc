// DotStuffer's 16-octet scan for line feeds that need a change: every kind of line break at every
// position around a block's edges, and long random bodies in random chunks, against the reference.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/pop3/dot_stuffer.h"
#include "tests/unit/protocol/pop3/dot_stuffer_reference.h"

namespace popgate::pop3 {
namespace {

std::string stuff_in_chunks(std::string_view body, const std::vector<size_t>& cuts) {
  DotStuffer stuffer;
  std::string out;
  size_t from = 0;
  for (size_t cut : cuts) {
    stuffer.feed(body.substr(from, cut - from), out);
    from = cut;
  }
  stuffer.feed(body.substr(from), out);
  stuffer.finish(out);
  return out;
}

// Ordinary CRLF lines of `length` octets (line break included), `total` octets in all.
std::string crlf_lines(size_t total, size_t length) {
  std::string body;
  while (body.size() < total) {
    body.append(length - 2, 'm');
    body += "\r\n";
  }
  body.resize(total);
  return body;
}

TEST(DotStufferBlockScanTest, EveryBreakAtEveryOffsetOfTheFirstBlocks) {
  // Pieces that need a change (a bare LF, a line starting with "."), and ones that do not, placed
  // at each offset 0..63 of a body of ordinary lines, so they fall in every lane of a 16-octet
  // block, on its first and last octet, and in the tail the scan leaves to memchr.
  const std::string pieces[] = {"\n", "\r\n.", "\n.", "\r\n..", "\r\r\n", "\r.", ".\n", "\r\n"};
  for (const std::string& piece : pieces) {
    for (size_t offset = 0; offset < 64; ++offset) {
      for (size_t tail : {0u, 1u, 15u, 16u, 17u, 40u}) {
        std::string body = crlf_lines(offset, 9) + piece + crlf_lines(tail, 7);
        if (offset > 0 && body[offset - 1] == '\r' && piece[0] == '\n') body[offset - 1] = 'x';
        EXPECT_EQ(stuff_in_chunks(body, {}), reference_wire(body))
            << testing::PrintToString(piece) << " at " << offset << ", tail " << tail;
      }
    }
  }
}

TEST(DotStufferBlockScanTest, ACrBeforeTheChunkMakesAFirstLfACrlf) {
  // The CR that makes data[0]'s LF a CRLF is in the previous chunk: nothing to add.
  const std::string body = std::string(40, 'a') + "\r" + "\n" + std::string(40, 'b') + "\r\n";
  EXPECT_EQ(stuff_in_chunks(body, {41}), body + ".\r\n");
  EXPECT_EQ(stuff_in_chunks(body, {40}), body + ".\r\n");
}

TEST(DotStufferBlockScanTest, ADotJustAfterAChunkEndsWithAnLfIsStuffed) {
  const std::string body = crlf_lines(64, 8) + ".hidden\r\n" + crlf_lines(64, 8);
  EXPECT_EQ(stuff_in_chunks(body, {64}), reference_wire(body));
  EXPECT_EQ(stuff_in_chunks(body, {63}), reference_wire(body));
}

TEST(DotStufferBlockScanTest, LongRandomBodiesInRandomChunksMatchTheReference) {
  // Mostly ordinary text, so the 16-octet steps are taken, with the octets that matter mixed in.
  std::mt19937 random(20261127);
  const std::string alphabet = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n\r\n\r\n.\n\r";
  for (int round = 0; round < 400; ++round) {
    const size_t size = std::uniform_int_distribution<size_t>(0, 3000)(random);
    std::string body(size, ' ');
    for (char& c : body) c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(random)];
    std::vector<size_t> cuts;
    for (size_t at = 0; size > 0;) {
      at += std::uniform_int_distribution<size_t>(1, round % 2 == 0 ? 40 : 700)(random);
      if (at >= size) break;
      cuts.push_back(at);
    }
    ASSERT_EQ(stuff_in_chunks(body, cuts), reference_wire(body)) << testing::PrintToString(body);
    ASSERT_EQ(stuff_in_chunks(body, {}), reference_wire(body)) << testing::PrintToString(body);
  }
}

}  // namespace
}  // namespace popgate::pop3
