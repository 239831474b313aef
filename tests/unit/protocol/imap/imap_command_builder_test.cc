// Tests for ImapCommandBuilder, make_uid_sets and encode_modified_utf7: the exact wire bytes.
#include "protocol/imap/imap_command_builder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace popgate::imap {
namespace {

using Parts = std::vector<std::string>;

// ---- Quoting of astrings, observed through LOGIN ----

struct QuotingCase {
  const char* name;
  std::string password;
  Parts expected_parts;  // without LITERAL+
};

class ImapQuotingTest : public ::testing::TestWithParam<QuotingCase> {};

TEST_P(ImapQuotingTest, LoginPasswordIsQuotedForTheWire) {
  const QuotingCase& c = GetParam();
  ImapCommandBuilder builder;
  Command command = builder.login("user", SecretString(c.password));
  EXPECT_EQ(command.parts, c.expected_parts);
  EXPECT_TRUE(command.sensitive);
  EXPECT_EQ(command.summary, "LOGIN user ***");
}

INSTANTIATE_TEST_SUITE_P(
    ImapBuilder, ImapQuotingTest,
    ::testing::Values(
        QuotingCase{"PlainAtom", "hunter2", {"p1 LOGIN user hunter2\r\n"}},
        QuotingCase{"AtomWithPunctuation",
                    "a.b-c_d!#$&'+,/:;<=>?@[^`|~",
                    {"p1 LOGIN user a.b-c_d!#$&'+,/:;<=>?@[^`|~\r\n"}},
        QuotingCase{"Empty", "", {"p1 LOGIN user \"\"\r\n"}},
        QuotingCase{"Space", "correct horse", {"p1 LOGIN user \"correct horse\"\r\n"}},
        QuotingCase{"Quote", "say\"hi", {"p1 LOGIN user \"say\\\"hi\"\r\n"}},
        QuotingCase{"Backslash", "C:\\dir", {"p1 LOGIN user \"C:\\\\dir\"\r\n"}},
        QuotingCase{"Parens", "(x)", {"p1 LOGIN user \"(x)\"\r\n"}},
        QuotingCase{"Brace", "a{b", {"p1 LOGIN user \"a{b\"\r\n"}},
        QuotingCase{"Wildcards", "a%b*", {"p1 LOGIN user \"a%b*\"\r\n"}},
        QuotingCase{"CloseBracket", "a]", {"p1 LOGIN user \"a]\"\r\n"}},
        QuotingCase{"NilIsQuoted", "NIL", {"p1 LOGIN user \"NIL\"\r\n"}},
        QuotingCase{"NilLowerIsQuoted", "nil", {"p1 LOGIN user \"nil\"\r\n"}},
        QuotingCase{"EightBitUtf8", "pässwörd", {"p1 LOGIN user {10}\r\n", "pässwörd\r\n"}},
        QuotingCase{"CrLf", "a\r\nb", {"p1 LOGIN user {4}\r\n", "a\r\nb\r\n"}},
        QuotingCase{"Tab", "a\tb", {"p1 LOGIN user {3}\r\n", "a\tb\r\n"}},
        QuotingCase{"Del", std::string("a\x7f"), {"p1 LOGIN user {2}\r\n", std::string("a\x7f\r\n")}},
        // NUL is refused by servers even in a literal; the builder still answers deterministically.
        QuotingCase{"Nul", std::string("a\0b", 3), {"p1 LOGIN user {3}\r\n", std::string("a\0b\r\n", 5)}},
        QuotingCase{
            "Long1000IsQuoted", std::string(1000, 'x'), {"p1 LOGIN user " + std::string(1000, 'x') + "\r\n"}},
        QuotingCase{"Long1001IsLiteral",
                    std::string(1001, 'x'),
                    {"p1 LOGIN user {1001}\r\n", std::string(1001, 'x') + "\r\n"}}),
    [](const ::testing::TestParamInfo<QuotingCase>& info) { return std::string(info.param.name); });

TEST(ImapCommandBuilder, LiteralPlusKeepsOnePart) {
  ImapCommandBuilder builder;
  builder.set_literal_plus(true);
  Command command = builder.login("user", SecretString("pässwörd"));
  EXPECT_EQ(command.parts, (Parts{"p1 LOGIN user {10+}\r\npässwörd\r\n"}));
}

TEST(ImapCommandBuilder, LiteralInUserAndPasswordMakesThreeParts) {
  ImapCommandBuilder builder;
  Command command = builder.login("jörg", SecretString("a\r\nb"));
  EXPECT_EQ(command.parts, (Parts{"p1 LOGIN {5}\r\n", "jörg {4}\r\n", "a\r\nb\r\n"}));
  // Every part but the last announces a literal; the last ends the command.
  for (size_t i = 0; i + 1 < command.parts.size(); ++i) {
    EXPECT_TRUE(command.parts[i].ends_with("}\r\n")) << i;
  }
  EXPECT_EQ(command.summary, "LOGIN {5} ***");
}

TEST(ImapCommandBuilder, LiteralPlusWithTwoLiterals) {
  ImapCommandBuilder builder;
  builder.set_literal_plus(true);
  Command command = builder.login("jörg", SecretString("a\r\nb"));
  EXPECT_EQ(command.parts, (Parts{"p1 LOGIN {5+}\r\njörg {4+}\r\na\r\nb\r\n"}));
}

TEST(ImapCommandBuilder, UserIsQuotedInWireAndSummary) {
  ImapCommandBuilder builder;
  Command command = builder.login("john doe", SecretString("pw"));
  EXPECT_EQ(command.parts, (Parts{"p1 LOGIN \"john doe\" pw\r\n"}));
  EXPECT_EQ(command.summary, "LOGIN \"john doe\" ***");
}

TEST(ImapCommandBuilder, SummariesNeverContainThePassword) {
  const std::string password = "S3cr3t-pässwörd \"x\"";
  for (bool literal_plus : {false, true}) {
    ImapCommandBuilder builder;
    builder.set_literal_plus(literal_plus);
    Command login = builder.login("user", SecretString(password));
    Command ir = builder.authenticate_plain("user", SecretString(password), true);
    Command no_ir = builder.authenticate_plain("user", SecretString(password), false);
    for (const Command* command : {&login, &ir, &no_ir}) {
      EXPECT_TRUE(command->sensitive);
      EXPECT_EQ(command->summary.find("S3cr3t"), std::string::npos) << command->summary;
      EXPECT_NE(command->summary.find("***"), std::string::npos) << command->summary;
      EXPECT_EQ(command->summary.find("AHVzZXIA"), std::string::npos)
          << command->summary;  // base64 "\0user\0"
    }
  }
}

TEST(ImapCommandBuilder, AuthenticatePlainWithSaslIr) {
  ImapCommandBuilder builder;
  Command command = builder.authenticate_plain("user", SecretString("pass"), true);
  EXPECT_EQ(command.tag, "p1");
  EXPECT_EQ(command.parts, (Parts{"p1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"}));
  EXPECT_TRUE(command.sensitive);
  EXPECT_EQ(command.summary, "AUTHENTICATE PLAIN ***");
}

TEST(ImapCommandBuilder, AuthenticatePlainWithoutSaslIr) {
  ImapCommandBuilder builder;
  Command command = builder.authenticate_plain("user", SecretString("pass"), false);
  EXPECT_EQ(command.parts, (Parts{"p1 AUTHENTICATE PLAIN\r\n", "AHVzZXIAcGFzcw==\r\n"}));
  EXPECT_TRUE(command.sensitive);
}

TEST(ImapCommandBuilder, AuthenticatePlainEncodesRawBytes) {
  ImapCommandBuilder builder;
  Command command = builder.authenticate_plain("jörg", SecretString("pä ss\"\\"), true);
  EXPECT_EQ(command.parts, (Parts{"p1 AUTHENTICATE PLAIN AGrDtnJnAHDDpCBzcyJc\r\n"}));
}

TEST(ImapCommandBuilder, TagsIncrementAcrossCommands) {
  ImapCommandBuilder builder("gw");
  EXPECT_EQ(builder.capability().tag, "gw1");
  EXPECT_EQ(builder.noop().tag, "gw2");
  Command login = builder.login("u", SecretString("p"));
  EXPECT_EQ(login.tag, "gw3");
  EXPECT_EQ(login.parts[0].substr(0, 4), "gw3 ");
  for (int i = 4; i < 12; ++i) EXPECT_EQ(builder.noop().tag, "gw" + std::to_string(i));
  EXPECT_EQ(builder.logout().parts, (Parts{"gw12 LOGOUT\r\n"}));
}

TEST(ImapCommandBuilder, DefaultPrefixIsP) {
  ImapCommandBuilder builder;
  EXPECT_EQ(builder.capability().parts, (Parts{"p1 CAPABILITY\r\n"}));
}

TEST(ImapCommandBuilder, SimpleCommands) {
  ImapCommandBuilder builder;
  Command c = builder.capability();
  EXPECT_EQ(c.parts, (Parts{"p1 CAPABILITY\r\n"}));
  EXPECT_EQ(c.summary, "CAPABILITY");
  EXPECT_FALSE(c.sensitive);
  EXPECT_EQ(builder.noop().parts, (Parts{"p2 NOOP\r\n"}));
  EXPECT_EQ(builder.logout().parts, (Parts{"p3 LOGOUT\r\n"}));
  EXPECT_EQ(builder.starttls().parts, (Parts{"p4 STARTTLS\r\n"}));
  Command e = builder.expunge();
  EXPECT_EQ(e.parts, (Parts{"p5 EXPUNGE\r\n"}));
  EXPECT_EQ(e.summary, "EXPUNGE");
}

TEST(ImapCommandBuilder, UidCommandsAreVerbatim) {
  ImapCommandBuilder builder;
  Command fetch = builder.uid_fetch("7", "(BODY.PEEK[])");
  EXPECT_EQ(fetch.parts, (Parts{"p1 UID FETCH 7 (BODY.PEEK[])\r\n"}));
  EXPECT_EQ(fetch.summary, "UID FETCH 7 (BODY.PEEK[])");
  EXPECT_FALSE(fetch.sensitive);

  Command store = builder.uid_store("1:3,5", "+FLAGS.SILENT (\\Deleted)");
  EXPECT_EQ(store.parts, (Parts{"p2 UID STORE 1:3,5 +FLAGS.SILENT (\\Deleted)\r\n"}));
  EXPECT_EQ(store.summary, "UID STORE 1:3,5 +FLAGS.SILENT (\\Deleted)");

  Command expunge = builder.uid_expunge("1:3,5");
  EXPECT_EQ(expunge.parts, (Parts{"p3 UID EXPUNGE 1:3,5\r\n"}));
  EXPECT_EQ(expunge.summary, "UID EXPUNGE 1:3,5");

  Command search = builder.uid_search("DELETED");
  EXPECT_EQ(search.parts, (Parts{"p4 UID SEARCH DELETED\r\n"}));
  EXPECT_EQ(search.summary, "UID SEARCH DELETED");
}

TEST(ImapCommandBuilder, UidMoveAndCopyEncodeTheMailbox) {
  ImapCommandBuilder builder;
  Command move = builder.uid_move("4:6", "Trash");
  EXPECT_EQ(move.parts, (Parts{"p1 UID MOVE 4:6 Trash\r\n"}));
  EXPECT_EQ(move.summary, "UID MOVE 4:6 Trash");
  Command copy = builder.uid_copy("9", "Gelöschte Elemente");
  EXPECT_EQ(copy.parts, (Parts{"p2 UID COPY 9 \"Gel&APY-schte Elemente\"\r\n"}));
  EXPECT_EQ(copy.summary, "UID COPY 9 \"Gel&APY-schte Elemente\"");
}

TEST(ImapCommandBuilder, SelectAndExamine) {
  ImapCommandBuilder builder;
  Command select = builder.select("INBOX");
  EXPECT_EQ(select.parts, (Parts{"p1 SELECT INBOX\r\n"}));
  EXPECT_EQ(select.summary, "SELECT INBOX");
  EXPECT_FALSE(select.sensitive);
  EXPECT_EQ(builder.examine("Entwürfe").parts, (Parts{"p2 EXAMINE Entw&APw-rfe\r\n"}));
  EXPECT_EQ(builder.select("Sent Items").parts, (Parts{"p3 SELECT \"Sent Items\"\r\n"}));
  EXPECT_EQ(builder.select("台北").parts, (Parts{"p4 SELECT &U,BTFw-\r\n"}));
  EXPECT_EQ(builder.select("A&B").parts, (Parts{"p5 SELECT A&-B\r\n"}));
  EXPECT_EQ(builder.select("").parts, (Parts{"p6 SELECT \"\"\r\n"}));
}

TEST(ImapCommandBuilder, SelectWithUtf8AcceptSendsUtf8) {
  ImapCommandBuilder builder;
  builder.set_utf8_accept(true);
  EXPECT_EQ(builder.encode_mailbox("Entwürfe"), "Entwürfe");
  EXPECT_EQ(builder.encode_mailbox("A&B"), "A&B");
  Command select = builder.select("Entwürfe");
  EXPECT_EQ(select.parts, (Parts{"p1 SELECT {9}\r\n", "Entwürfe\r\n"}));
  EXPECT_EQ(select.summary, "SELECT {9}");
  builder.set_literal_plus(true);
  EXPECT_EQ(builder.select("Entwürfe").parts, (Parts{"p2 SELECT {9+}\r\nEntwürfe\r\n"}));
}

TEST(ImapCommandBuilder, EncodeMailboxWithoutUtf8Accept) {
  ImapCommandBuilder builder;
  EXPECT_EQ(builder.encode_mailbox("INBOX"), "INBOX");
  EXPECT_EQ(builder.encode_mailbox("Entwürfe"), "Entw&APw-rfe");
}

// ---- make_uid_sets ----

TEST(ImapUidSets, EmptyInputGivesNoSets) {
  EXPECT_TRUE(make_uid_sets({}).empty());
}

TEST(ImapUidSets, Vectors) {
  EXPECT_EQ(make_uid_sets({7}), (std::vector<std::string>{"7"}));
  EXPECT_EQ(make_uid_sets({1, 2, 3, 5, 7, 8, 9}), (std::vector<std::string>{"1:3,5,7:9"}));
  EXPECT_EQ(make_uid_sets({1, 3, 5}), (std::vector<std::string>{"1,3,5"}));
  EXPECT_EQ(make_uid_sets({10, 11}), (std::vector<std::string>{"10:11"}));
  EXPECT_EQ(make_uid_sets({4294967294u, 4294967295u}), (std::vector<std::string>{"4294967294:4294967295"}));
  EXPECT_EQ(make_uid_sets({1, 2, 2, 3}), (std::vector<std::string>{"1:3"}));  // duplicates fold
}

TEST(ImapUidSets, SplitsAtMaxLength) {
  // "1:3,5,7:9" is 9 octets.
  EXPECT_EQ(make_uid_sets({1, 2, 3, 5, 7, 8, 9}, 9), (std::vector<std::string>{"1:3,5,7:9"}));
  EXPECT_EQ(make_uid_sets({1, 2, 3, 5, 7, 8, 9}, 8), (std::vector<std::string>{"1:3,5", "7:9"}));
  EXPECT_EQ(make_uid_sets({1, 2, 3, 5, 7, 8, 9}, 5), (std::vector<std::string>{"1:3,5", "7:9"}));
  EXPECT_EQ(make_uid_sets({1, 2, 3, 5, 7, 8, 9}, 4), (std::vector<std::string>{"1:3", "5", "7:9"}));
  // An item that alone exceeds the limit still goes out, alone.
  EXPECT_EQ(make_uid_sets({100, 101, 200}, 3), (std::vector<std::string>{"100:101", "200"}));
}

TEST(ImapUidSets, ManySparseUidsStayWithinLimit) {
  std::vector<uint32_t> uids;
  for (uint32_t uid = 1000000; uid < 1000000 + 20000; uid += 2) uids.push_back(uid);
  const size_t max_length = 4000;
  std::vector<std::string> sets = make_uid_sets(uids, max_length);
  ASSERT_GT(sets.size(), 1u);
  std::vector<uint32_t> seen;
  for (const std::string& set : sets) {
    EXPECT_LE(set.size(), max_length);
    EXPECT_NE(set.front(), ',');
    EXPECT_NE(set.back(), ',');
    size_t pos = 0;
    while (pos <= set.size()) {
      size_t comma = set.find(',', pos);
      if (comma == std::string::npos) comma = set.size();
      seen.push_back(static_cast<uint32_t>(std::stoul(set.substr(pos, comma - pos))));
      pos = comma + 1;
    }
  }
  EXPECT_EQ(seen, uids);
  // Sets are packed: adding the next set's first item would have overflowed the previous one.
  for (size_t i = 0; i + 1 < sets.size(); ++i) {
    const std::string first_item = sets[i + 1].substr(0, sets[i + 1].find(','));
    EXPECT_GT(sets[i].size() + 1 + first_item.size(), max_length);
  }
}

TEST(ImapUidSets, LongRunsCompress) {
  std::vector<uint32_t> uids;
  for (uint32_t uid = 1; uid <= 100000; ++uid) uids.push_back(uid);
  uids.push_back(100002);
  EXPECT_EQ(make_uid_sets(uids), (std::vector<std::string>{"1:100000,100002"}));
}

// ---- encode_modified_utf7 (RFC 3501 §5.1.3) ----

TEST(ImapModifiedUtf7, Vectors) {
  EXPECT_EQ(encode_modified_utf7(""), "");
  EXPECT_EQ(encode_modified_utf7("INBOX"), "INBOX");
  EXPECT_EQ(encode_modified_utf7("Gesendete Objekte"), "Gesendete Objekte");
  EXPECT_EQ(encode_modified_utf7("Entwürfe"), "Entw&APw-rfe");
  EXPECT_EQ(encode_modified_utf7("台北"), "&U,BTFw-");
  EXPECT_EQ(encode_modified_utf7("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-");  // the RFC's example
  EXPECT_EQ(encode_modified_utf7("&"), "&-");
  EXPECT_EQ(encode_modified_utf7("A&B"), "A&-B");
  EXPECT_EQ(encode_modified_utf7("Ü&Ü"), "&ANw-&-&ANw-");
  EXPECT_EQ(encode_modified_utf7("Отправленные"), "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-");
  EXPECT_EQ(encode_modified_utf7("ÿ"), "&AP8-");
  EXPECT_EQ(encode_modified_utf7("Tab\there"), "Tab&AAk-here");  // controls are not printable ASCII
}

TEST(ImapModifiedUtf7, SupplementaryPlaneUsesSurrogates) {
  EXPECT_EQ(encode_modified_utf7("😀"), "&2D3eAA-");
  EXPECT_EQ(encode_modified_utf7("a😀b"), "a&2D3eAA-b");
}

TEST(ImapModifiedUtf7, InvalidUtf8BecomesReplacementCharacter) {
  const std::string replacement = "&,,0-";  // U+FFFD
  EXPECT_EQ(encode_modified_utf7("\xff"), replacement);
  EXPECT_EQ(encode_modified_utf7("\xc3"), replacement);           // truncated sequence
  EXPECT_EQ(encode_modified_utf7("\xc0\xaf"), "&,,3,,Q-");        // overlong "/": two U+FFFD
  EXPECT_EQ(encode_modified_utf7("\xed\xa0\x80"), "&,,3,,f,9-");  // surrogate: three U+FFFD
  EXPECT_EQ(encode_modified_utf7("a\x80z"), "a" + replacement + "z");
  EXPECT_EQ(encode_modified_utf7("\xf4\x90\x80\x80").substr(0, 1), "&");  // above U+10FFFF
}

TEST(ImapModifiedUtf7, ArbitraryBytesNeverCrashAndOutputIsAscii) {
  uint32_t state = 12345;
  for (int i = 0; i < 2000; ++i) {
    std::string input;
    const int length = i % 17;
    for (int j = 0; j < length; ++j) {
      state = state * 1103515245u + 12345u;
      input.push_back(static_cast<char>(state >> 24));
    }
    const std::string out = encode_modified_utf7(input);
    for (char c : out) {
      ASSERT_GE(static_cast<unsigned char>(c), 0x20);
      ASSERT_LE(static_cast<unsigned char>(c), 0x7e);
    }
    EXPECT_EQ(encode_modified_utf7(input), out);  // deterministic
  }
}

}  // namespace
}  // namespace popgate::imap
