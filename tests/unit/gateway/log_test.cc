// Log lines as written to stderr: JSON with typed fields, the key=value text, sanitising, levels.
#include "gateway/log.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/gateway/captured_stderr.h"

namespace popgate::log {
namespace {

using popgate::testing::CapturedStderr;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_level(Level::Debug);
    set_format(Format::Json);
  }
  void TearDown() override {
    set_level(Level::Info);
    set_format(Format::Json);
  }
};

TEST_F(LogTest, JsonLinesHaveTimestampLevelEventThenTypedFieldsInOrder) {
  CapturedStderr captured;
  Line(Level::Info, "session_close")
      .field("session", 7)
      .field("user", "alice")
      .field("bytes_out", uint64_t{18446744073709551615u})
      .field("offset", int64_t{-3})
      .field("implicit_tls", true)
      .field("mark_seen", false)
      .field("duration_s", 1.25);
  Line(Level::Warn, "second").field("message", "two lines, one object each");
  const auto lines = lines_of(captured.text());
  ASSERT_EQ(lines.size(), 2u);

  const auto line = nlohmann::ordered_json::parse(lines[0]);
  ASSERT_TRUE(line.is_object());
  std::vector<std::string> keys;
  for (const auto& [key, value] : line.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"ts", "level", "event", "session", "user", "bytes_out", "offset",
                                            "implicit_tls", "mark_seen", "duration_s"}));
  // RFC 3339 in UTC with milliseconds: 2024-05-01T12:00:00.123Z
  const std::string ts = line["ts"].get<std::string>();
  ASSERT_EQ(ts.size(), 24u) << ts;
  EXPECT_EQ(ts[4], '-');
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts[19], '.');
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["event"], "session_close");
  EXPECT_TRUE(line["session"].is_number_integer());
  EXPECT_EQ(line["session"].get<int64_t>(), 7);
  EXPECT_TRUE(line["user"].is_string());
  EXPECT_EQ(line["bytes_out"].get<uint64_t>(), 18446744073709551615u);
  EXPECT_EQ(line["offset"].get<int64_t>(), -3);
  EXPECT_TRUE(line["implicit_tls"].is_boolean());
  EXPECT_EQ(line["implicit_tls"].get<bool>(), true);
  EXPECT_EQ(line["mark_seen"].get<bool>(), false);
  EXPECT_TRUE(line["duration_s"].is_number_float());
  EXPECT_DOUBLE_EQ(line["duration_s"].get<double>(), 1.25);

  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["level"], "warn");
  EXPECT_EQ(second["message"], "two lines, one object each");
}

TEST_F(LogTest, JsonEscapesQuotesAndBackslashesAndSanitisesPeerText) {
  CapturedStderr captured;
  const std::string peer = std::string("say \"hi\" \\ then\r\nINJECTED\x01\x7f\xc3\xa9") + '\0' + "end";
  Line(Level::Info, "login_failed")
      .field("user", peer)
      .field("non_finite", std::numeric_limits<double>::quiet_NaN());
  const auto lines = lines_of(captured.text());
  ASSERT_EQ(lines.size(), 1u) << "a CR LF in peer text must not start a new line";
  const auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["user"], "say \"hi\" \\ then\\x0d\\x0aINJECTED\\x01\\x7f\\xc3\\xa9\\x00end");
  EXPECT_TRUE(line["non_finite"].is_null());
  for (unsigned char c : lines[0]) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "octet " << int(c) << " in the line";
}

TEST_F(LogTest, LongPeerTextIsCut) {
  CapturedStderr captured;
  Line(Level::Info, "long").field("reason", std::string(5000, 'x'));
  const auto line = nlohmann::json::parse(lines_of(captured.text()).at(0));
  EXPECT_EQ(line["reason"].get<std::string>(), std::string(300, 'x') + "...");
}

TEST_F(LogTest, TextFormatIsKeyValue) {
  set_format(Format::Text);
  CapturedStderr captured;
  Line(Level::Info, "session_close")
      .field("session", 7)
      .field("user", "alice")
      .field("outcome", "client said \"bye\"")
      .field("empty", "")
      .field("stls", true)
      .field("duration_s", 1.25)
      .field("peer", "a\x01z");
  const auto lines = lines_of(captured.text());
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  ASSERT_GT(line.size(), 25u);
  EXPECT_EQ(line[23], 'Z') << line;
  EXPECT_EQ(
      line.substr(24),
      " info session_close session=7 user=alice outcome=\"client said \\\"bye\\\"\" empty=\"\" stls=true "
      "duration_s=1.250 peer=\"a\\\\x01z\"");
}

TEST_F(LogTest, LevelsFilter) {
  set_level(Level::Warn);
  CapturedStderr captured;
  Line(Level::Debug, "debug_line").field("n", 1);
  Line(Level::Info, "info_line").field("n", 2);
  Line(Level::Warn, "warn_line").field("n", 3);
  Line(Level::Error, "error_line").field("n", 4);
  const auto lines = lines_of(captured.text());
  ASSERT_EQ(lines.size(), 2u) << captured.text();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["event"], "warn_line");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["event"], "error_line");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "error");
  EXPECT_FALSE(enabled(Level::Info));
  EXPECT_TRUE(enabled(Level::Error));
}

TEST_F(LogTest, ParsesLevelAndFormatNames) {
  EXPECT_EQ(parse_format("json"), Format::Json);
  EXPECT_EQ(parse_format("text"), Format::Text);
  EXPECT_EQ(parse_format("JSON"), std::nullopt);
  EXPECT_EQ(parse_format("logfmt"), std::nullopt);
  EXPECT_EQ(parse_level("warning"), Level::Warn);
  EXPECT_STREQ(to_string(Level::Debug), "debug");
  EXPECT_STREQ(to_string(Format::Text), "text");
}

TEST(SanitizeTest, ControlAnd8BitOctetsAreEscapedAndTextIsCut) {
  EXPECT_EQ(sanitize("plain text"), "plain text");
  EXPECT_EQ(sanitize("a\tb\r\n"), "a\\x09b\\x0d\\x0a");
  EXPECT_EQ(sanitize("\xff\x80"), "\\xff\\x80");
  EXPECT_EQ(sanitize(std::string_view("\0", 1)), "\\x00");
  EXPECT_EQ(sanitize("abcdefgh", 4), "abcd...");
}

}  // namespace
}  // namespace popgate::log
