// RedisReplyReader and the RESP command encoder: every reply type whole, one byte at a time and
// with the next reply's bytes behind it; nesting; the limits; malformed input; random bytes.
#include "gateway/io/redis_reply_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "gateway/io/redis_command.h"

namespace popgate::io {
namespace {

// A reply written back as RESP, so trees compare as strings.
std::string render(const RedisReply& reply) {
  switch (reply.type) {
    case RedisReply::Type::Status:
      return "+" + reply.text + "\r\n";
    case RedisReply::Type::Error:
      return "-" + reply.text + "\r\n";
    case RedisReply::Type::Integer:
      return ":" + std::to_string(reply.integer) + "\r\n";
    case RedisReply::Type::String:
      return "$" + std::to_string(reply.text.size()) + "\r\n" + reply.text + "\r\n";
    case RedisReply::Type::Nil:
      return "$-1\r\n";
    case RedisReply::Type::Array: {
      std::string out = "*" + std::to_string(reply.elements.size()) + "\r\n";
      for (const RedisReply& element : reply.elements) out += render(element);
      return out;
    }
  }
  return {};
}

struct Read {
  std::vector<std::string> replies;  // rendered
  std::string error;
};

Read read_in_pieces(const std::string& wire, size_t piece, RedisReplyLimits limits = {}) {
  RedisReplyReader reader(limits);
  Read read;
  for (size_t at = 0; at < wire.size(); at += piece) {
    reader.feed(std::string_view(wire).substr(at, piece));
    while (std::optional<RedisReply> reply = reader.next()) read.replies.push_back(render(*reply));
  }
  read.error = reader.error();
  return read;
}

using namespace std::string_literals;

const std::string kEveryType =
    "+OK\r\n"
    "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    ":-42\r\n"
    "$5\r\nab\0\r\n\r\n"
    "$0\r\n\r\n"
    "$-1\r\n"
    "*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n+PONG\r\n"
    "*0\r\n"s;

TEST(RedisReplyReader, ReadsEveryTypeWholeAndByteByByte) {
  const std::string& wire = kEveryType;
  Read whole = read_in_pieces(wire, wire.size());
  ASSERT_EQ(whole.replies.size(), 8u) << whole.error;
  EXPECT_EQ(whole.replies[0], "+OK\r\n");
  EXPECT_EQ(whole.replies[1], "-NOSCRIPT No matching script. Please use EVAL.\r\n");
  EXPECT_EQ(whole.replies[2], ":-42\r\n");
  EXPECT_EQ(whole.replies[3], std::string("$5\r\nab\0\r\n\r\n", 11));  // binary-safe
  EXPECT_EQ(whole.replies[4], "$0\r\n\r\n");
  EXPECT_EQ(whole.replies[5], "$-1\r\n");
  EXPECT_EQ(whole.replies[6], "*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n+PONG\r\n");
  EXPECT_EQ(whole.replies[7], "*0\r\n");
  EXPECT_TRUE(whole.error.empty());
  for (size_t piece : {1, 2, 3, 7}) {
    Read split = read_in_pieces(wire, piece);
    EXPECT_EQ(split.replies, whole.replies) << "pieces of " << piece;
  }
}

TEST(RedisReplyReader, LeavesAnIncompleteReplyForLater) {
  RedisReplyReader reader;
  reader.feed("+OK\r\n$13\r\nhalf");
  ASSERT_TRUE(reader.next().has_value());
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_FALSE(reader.failed());
  reader.feed("-done\r\n:7\r\n");
  std::optional<RedisReply> bulk = reader.next();
  ASSERT_TRUE(bulk.has_value());
  EXPECT_EQ(bulk->text, "half-done\r\n:7");  // the bytes inside a bulk string are only bytes
}

TEST(RedisReplyReader, ErrorCodeIsTheFirstWord) {
  RedisReplyReader reader;
  reader.feed("-WRONGPASS invalid username-password pair\r\n+OK\r\n");
  std::optional<RedisReply> error = reader.next();
  ASSERT_TRUE(error && error->is_error());
  EXPECT_EQ(error->error_code(), "WRONGPASS");
  std::optional<RedisReply> ok = reader.next();
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->is_ok());
  EXPECT_EQ(ok->error_code(), "");
}

TEST(RedisReplyReader, RefusesABulkStringOverTheLimit) {
  // Whole at once (refused as it is made) or as it trickles in (refused once the bytes waiting pass the
  // limit).
  for (size_t piece : {3000, 100}) {
    Read read = read_in_pieces("$2000\r\n" + std::string(2002, 'x'), piece, {.max_buffered_bytes = 1000});
    EXPECT_TRUE(read.replies.empty());
    EXPECT_NE(read.error.find("over "), std::string::npos) << read.error;
  }
}

TEST(RedisReplyReader, RefusesAnAnnouncedLengthNoMemoryCouldHold) {
  // hiredis 0.14 adds the announced length to its cursor without an overflow check.
  for (const char* head :
       {"$9223372036854775806\r\n", "$18446744073709551615\r\n", "$9223372036854775807\r\n"}) {
    Read read = read_in_pieces(head + std::string(2000, 'x'), 64, {.max_buffered_bytes = 1000});
    EXPECT_TRUE(read.replies.empty()) << head;
    EXPECT_FALSE(read.error.empty()) << head;
  }
}

TEST(RedisReplyReader, RefusesALineThatNeverEnds) {
  Read read = read_in_pieces("+" + std::string(5000, 'x'), 100, {.max_buffered_bytes = 1000});
  EXPECT_NE(read.error.find("incomplete reply over 1000 bytes"), std::string::npos) << read.error;
}

TEST(RedisReplyReader, RefusesAnArrayOverTheLimit) {
  Read read = read_in_pieces("*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n", 100, {.max_array_elements = 4});
  EXPECT_TRUE(read.replies.empty());
  EXPECT_NE(read.error.find("array of 5 elements"), std::string::npos) << read.error;
  EXPECT_EQ(read_in_pieces("*-7\r\n", 10).replies.size(), 0u);
}

TEST(RedisReplyReader, RefusesNestingDeeperThanHiredisAllows) {
  std::string deep;
  for (int i = 0; i < 12; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  Read read = read_in_pieces(deep, deep.size());
  EXPECT_TRUE(read.replies.empty());
  EXPECT_FALSE(read.error.empty());
}

TEST(RedisReplyReader, FailsForGoodOnBytesThatAreNotResp) {
  RedisReplyReader reader;
  reader.feed("+OK\r\n!what\r\n+OK\r\n");
  EXPECT_TRUE(reader.next().has_value());
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_TRUE(reader.failed());
  EXPECT_FALSE(reader.feed("+OK\r\n"));
  EXPECT_FALSE(reader.next().has_value());
}

TEST(RedisReplyReader, RandomBytesNeverCrash) {
  std::mt19937 random(7);
  const std::string alphabet = "+-:$*\r\n0123456789-x";
  for (int round = 0; round < 2000; ++round) {
    std::string wire;
    const size_t size = random() % 64;
    for (size_t i = 0; i < size; ++i) wire += alphabet[random() % alphabet.size()];
    Read read = read_in_pieces(wire, 1 + random() % 8, {.max_buffered_bytes = 256});
    for (const std::string& reply : read.replies) EXPECT_FALSE(reply.empty());
  }
}

TEST(RedisCommand, EncodesBulkStringsBinarySafe) {
  EXPECT_EQ(encode_redis_command({"SET", "k", "v"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  const std::vector<std::string> args = {"SET", "a\0\r\n"s, ""};
  EXPECT_EQ(encode_redis_command(args), "*3\r\n$3\r\nSET\r\n$4\r\na\0\r\n\r\n$0\r\n\r\n"s);
}

TEST(RedisCommand, ScriptIsNamedByTheSha1OfItsSource) {
  // What `redis-cli SCRIPT LOAD "return 1"` answers.
  EXPECT_EQ(RedisScript("return 1").sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

}  // namespace
}  // namespace popgate::io
