// Tests for POP3 command-line splitting and number parsing.
#include "protocol/pop3/pop3_command.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace popgate::pop3 {
namespace {

using namespace std::string_literals;
using Args = std::vector<std::string_view>;

TEST(ParseCommand, KeywordAlone) {
  const auto c = parse_command("STAT");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->keyword, "STAT");
  EXPECT_EQ(c->rest, "");
  EXPECT_EQ(c->args, Args{});
}

TEST(ParseCommand, KeywordAndArguments) {
  const auto c = parse_command("TOP 1 10");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->keyword, "TOP");
  EXPECT_EQ(c->rest, "1 10");
  EXPECT_EQ(c->args, (Args{"1", "10"}));
}

TEST(ParseCommand, KeepsKeywordCase) {
  const auto c = parse_command("rEtR 3");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->keyword, "rEtR");
}

TEST(ParseCommand, RunsOfSpacesAndTrailingSpacesSeparateNothing) {
  const auto c = parse_command("TOP  1   10  ");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->args, (Args{"1", "10"}));
  EXPECT_EQ(c->rest, " 1   10  ");

  const auto trailing = parse_command("CAPA   ");
  ASSERT_TRUE(trailing.has_value());
  EXPECT_EQ(trailing->keyword, "CAPA");
  EXPECT_EQ(trailing->args, Args{});
}

TEST(ParseCommand, RestIsVerbatimForPass) {
  const auto c = parse_command("PASS  my secret ");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->rest, " my secret ");
  EXPECT_EQ(c->args, (Args{"my", "secret"}));
}

TEST(ParseCommand, NoKeyword) {
  EXPECT_FALSE(parse_command("").has_value());
  EXPECT_FALSE(parse_command(" ").has_value());
  EXPECT_FALSE(parse_command(" USER bob").has_value());
}

TEST(ParseCommand, TabsAndNulsAreNotSeparators) {
  const std::string line = "LIST\t1\0x"s;  // the command's views point into it
  const auto c = parse_command(line);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->keyword, "LIST\t1\0x"s);
  EXPECT_EQ(c->args, Args{});
}

TEST(ParseNumber, AcceptsDecimalDigits) {
  EXPECT_EQ(parse_number("0"), 0u);
  EXPECT_EQ(parse_number("1"), 1u);
  EXPECT_EQ(parse_number("007"), 7u);
  EXPECT_EQ(parse_number("18446744073709551615"), UINT64_MAX);
}

TEST(ParseNumber, RejectsEverythingElse) {
  for (const std::string& text : {""s, "-1"s, "+1"s, " 1"s, "1 "s, "1a"s, "a1"s, "0x10"s, "1.0"s, "１"s,
                                  "18446744073709551616"s, "99999999999999999999999"s, "1\0"s}) {
    EXPECT_FALSE(parse_number(text).has_value()) << text;
  }
}

TEST(Iequals, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("retr", "RETR"));
  EXPECT_TRUE(iequals("ReTr", "rEtR"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("RETR", "RET"));
  EXPECT_FALSE(iequals("RETR", "RETX"));
  EXPECT_FALSE(iequals("TOP[", "TOP{"));  // '[' and '{' differ by the case bit but are not letters
  EXPECT_FALSE(iequals("\xc4", "\xe4"));  // no Latin-1 folding
}

}  // namespace
}  // namespace popgate::pop3
