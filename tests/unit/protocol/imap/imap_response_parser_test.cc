// Tests for ImapResponseParser: real server exchanges at every split point, streaming, limits, garbage.
#include "protocol/imap/imap_response_parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace popgate::imap {
namespace {

using namespace std::string_literals;

// ---- Rendering responses so that runs can be compared and failures read ----

std::string escape(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

std::string dump(const Value& value);

std::string dump(const std::vector<Value>& values) {
  std::string out;
  for (const Value& value : values) {
    if (!out.empty()) out.push_back(' ');
    out += dump(value);
  }
  return out;
}

std::string dump(const Value& value) {
  switch (value.kind) {
    case ValueKind::Atom:
      return "A:" + escape(value.text);
    case ValueKind::Number:
      return "N:" + std::to_string(value.number) + "/" + value.text;
    case ValueKind::String:
      return "S:\"" + escape(value.text) + "\"";
    case ValueKind::Nil:
      return "NIL" + value.text;
    case ValueKind::List:
      return "(" + dump(value.list) + ")";
    case ValueKind::StreamedLiteral:
      return "LIT:" + std::to_string(value.number);
  }
  return "?";
}

std::string dump(const Response& r) {
  std::string out;
  switch (r.kind) {
    case ResponseKind::Tagged:
      out = "tag=" + escape(r.tag);
      break;
    case ResponseKind::Untagged:
      out = "*";
      break;
    case ResponseKind::Continuation:
      out = "+";
      break;
  }
  if (r.number) out += " #" + std::to_string(*r.number);
  out += " name=" + escape(r.name);
  if (r.status) out += " status=" + std::to_string(static_cast<int>(*r.status));
  out += " code=[" + escape(r.code) + "] text=<" + escape(r.text) + "> values=" + dump(r.values);
  return out;
}

Value atom(std::string text) {
  return Value{ValueKind::Atom, std::move(text), 0, {}};
}
Value num(uint64_t n) {
  return Value{ValueKind::Number, std::to_string(n), n, {}};
}
Value str(std::string text) {
  return Value{ValueKind::String, std::move(text), 0, {}};
}
Value nil() {
  return Value{ValueKind::Nil, "", 0, {}};
}
Value list(std::vector<Value> items) {
  return Value{ValueKind::List, "", 0, std::move(items)};
}
Value lit(uint64_t size) {
  return Value{ValueKind::StreamedLiteral, "", size, {}};
}

// ---- Driving the parser ----

bool points_into(std::string_view part, std::string_view whole) {
  std::less<const char*> less;
  return !less(part.data(), whole.data()) && !less(whole.data() + whole.size(), part.data() + part.size());
}

// Everything a caller observes: one entry per event, consecutive LiteralData merged
// (their count depends on how the bytes were split, their content must not).
struct Observed {
  std::vector<std::string> events;
  std::vector<Response> responses;
  std::vector<LiteralBegin> literals;
  bool failed = false;
};

Observed run_chunks(const std::vector<std::string>& chunks, const ParserLimits& limits = {}) {
  ImapResponseParser parser(limits);
  Observed run;
  for (const std::string& chunk : chunks) {
    parser.feed(chunk);
    // Every event consumes input, except the few that bracket a literal or close a list.
    size_t budget = 4 * chunk.size() + 16;
    for (;;) {
      if (budget-- == 0) {
        ADD_FAILURE() << "parser makes no progress";
        return run;
      }
      ParseEvent event = parser.next();
      if (std::holds_alternative<NeedMore>(event)) break;
      if (auto* ready = std::get_if<ResponseReady>(&event)) {
        run.events.push_back("R " + dump(ready->response));
        run.responses.push_back(ready->response);
      } else if (auto* begin = std::get_if<LiteralBegin>(&event)) {
        run.events.push_back("B size=" + std::to_string(begin->size) + " msg=" +
                             (begin->message_number ? std::to_string(*begin->message_number) : "-") +
                             " item=" + begin->item);
        run.literals.push_back(*begin);
      } else if (auto* data = std::get_if<LiteralData>(&event)) {
        EXPECT_FALSE(data->bytes.empty());
        EXPECT_TRUE(points_into(data->bytes, chunk)) << "literal data was copied out of the fed bytes";
        if (run.events.empty() || run.events.back().rfind("D ", 0) != 0) run.events.push_back("D ");
        run.events.back().append(data->bytes);
      } else if (std::holds_alternative<LiteralEnd>(event)) {
        run.events.push_back("E");
      } else if (auto* error = std::get_if<ParseError>(&event)) {
        EXPECT_FALSE(error->reason.empty());
        run.events.push_back("X " + error->reason);
        run.failed = true;
        // The error is sticky, even when more bytes arrive.
        ParseEvent again = parser.next();
        EXPECT_TRUE(std::holds_alternative<ParseError>(again));
        parser.feed("* OK fine\r\n");
        again = parser.next();
        EXPECT_TRUE(std::holds_alternative<ParseError>(again));
        if (auto* e = std::get_if<ParseError>(&again)) {
          EXPECT_EQ(e->reason, error->reason);
        }
        return run;
      }
    }
  }
  return run;
}

// Parses `input` whole, split in two at every point, and one byte at a time (with empty
// feeds in between); all must observe the same events. Returns the whole-input run.
Observed parse_everywhere(const std::string& input, const ParserLimits& limits = {}) {
  Observed whole = run_chunks({input}, limits);
  for (size_t i = 1; i < input.size(); ++i) {
    Observed split = run_chunks({input.substr(0, i), input.substr(i)}, limits);
    EXPECT_EQ(split.events, whole.events) << "split at " << i << " of " << escape(input);
    if (split.events != whole.events) break;  // one report is enough
  }
  std::vector<std::string> bytes;
  for (char c : input) {
    bytes.emplace_back(1, c);
    bytes.emplace_back();
  }
  EXPECT_EQ(run_chunks(bytes, limits).events, whole.events) << "byte at a time: " << escape(input);
  return whole;
}

// Parses a transcript that must be valid and returns its responses.
std::vector<Response> parse_ok(const std::string& input, const ParserLimits& limits = {}) {
  Observed run = parse_everywhere(input, limits);
  EXPECT_FALSE(run.failed) << (run.events.empty() ? "" : run.events.back());
  return run.responses;
}

Response parse_one(const std::string& input) {
  std::vector<Response> responses = parse_ok(input);
  EXPECT_EQ(responses.size(), 1u) << escape(input);
  return responses.empty() ? Response{} : responses.front();
}

// ---- Typical exchanges (Dovecot 2.3) ----

TEST(ImapResponseParser, DovecotGreetingWithCapability) {
  Response r = parse_one(
      "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] "
      "Dovecot (Debian) ready.\r\n");
  EXPECT_EQ(r.kind, ResponseKind::Untagged);
  EXPECT_EQ(r.name, "OK");
  EXPECT_EQ(r.status, StatusKind::Ok);
  EXPECT_FALSE(r.number.has_value());
  EXPECT_EQ(r.code,
            "CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN");
  EXPECT_EQ(r.text, "Dovecot (Debian) ready.");
  EXPECT_TRUE(r.values.empty());
}

TEST(ImapResponseParser, LoginOkWithCapability) {
  Response r = parse_one(
      "p1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY "
      "THREAD=REFERENCES "
      "MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 "
      "CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY "
      "PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE] Logged in\r\n");
  EXPECT_EQ(r.kind, ResponseKind::Tagged);
  EXPECT_EQ(r.tag, "p1");
  EXPECT_EQ(r.status, StatusKind::Ok);
  EXPECT_TRUE(r.code.starts_with("CAPABILITY IMAP4rev1 SASL-IR"));
  EXPECT_TRUE(r.code.ends_with("NOTIFY SPECIAL-USE"));
  EXPECT_EQ(r.text, "Logged in");
}

TEST(ImapResponseParser, SelectExchange) {
  std::vector<Response> rs = parse_ok(
      "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
      "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
      "* 5 EXISTS\r\n"
      "* 0 RECENT\r\n"
      "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
      "* OK [UIDNEXT 42] Predicted next UID\r\n"
      "* OK [HIGHESTMODSEQ 7] Highest\r\n"
      "p2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n");
  ASSERT_EQ(rs.size(), 8u);
  EXPECT_EQ(rs[0].name, "FLAGS");
  EXPECT_FALSE(rs[0].status.has_value());
  EXPECT_EQ(dump(rs[0].values), dump({list({atom("\\Answered"), atom("\\Flagged"), atom("\\Deleted"),
                                            atom("\\Seen"), atom("\\Draft")})}));
  EXPECT_EQ(rs[1].code, "PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)");
  EXPECT_EQ(rs[1].text, "Flags permitted.");
  EXPECT_EQ(rs[2].number, 5u);
  EXPECT_EQ(rs[2].name, "EXISTS");
  EXPECT_TRUE(rs[2].values.empty());
  EXPECT_EQ(rs[3].number, 0u);
  EXPECT_EQ(rs[3].name, "RECENT");
  EXPECT_EQ(rs[4].code, "UIDVALIDITY 1700000000");
  EXPECT_EQ(rs[5].code, "UIDNEXT 42");
  EXPECT_EQ(rs[6].code, "HIGHESTMODSEQ 7");
  EXPECT_EQ(rs[7].kind, ResponseKind::Tagged);
  EXPECT_EQ(rs[7].tag, "p2");
  EXPECT_EQ(rs[7].code, "READ-WRITE");
  EXPECT_EQ(rs[7].text, "Select completed (0.001 + 0.000 secs).");
}

TEST(ImapResponseParser, ManyFetchSizesInARow) {
  std::string input;
  for (int i = 1; i <= 40; ++i) {
    input += "* " + std::to_string(i) + " FETCH (UID " + std::to_string(i + 100) + " RFC822.SIZE " +
             std::to_string(i * 1000 + 7) + ")\r\n";
  }
  input += "p3 OK Fetch completed.\r\n";
  std::vector<Response> rs = parse_ok(input);
  ASSERT_EQ(rs.size(), 41u);
  for (int i = 1; i <= 40; ++i) {
    const Response& r = rs[i - 1];
    EXPECT_EQ(r.number, static_cast<uint64_t>(i));
    EXPECT_EQ(r.name, "FETCH");
    EXPECT_EQ(dump(r.values),
              dump({list({atom("UID"), num(i + 100), atom("RFC822.SIZE"), num(i * 1000 + 7)})}));
  }
  EXPECT_EQ(rs[40].tag, "p3");
}

TEST(ImapResponseParser, FetchBodyIsStreamed) {
  const std::string body = "Subject: hi\r\n\r\nline with ) and {5}\r\n* 1 FETCH (fake)\r\n";
  Observed run = parse_everywhere("* 3 FETCH (UID 9 BODY[] {" + std::to_string(body.size()) + "}\r\n" + body +
                                  ")\r\np4 OK done\r\n");
  ASSERT_FALSE(run.failed);
  const std::vector<std::string> expected = {
      "B size=" + std::to_string(body.size()) + " msg=3 item=BODY[]",
      "D " + body,
      "E",
      "R * #3 name=FETCH code=[] text=<> values=(A:UID N:9/9 A:BODY[] LIT:" + std::to_string(body.size()) +
          ")",
      "R tag=p4 name=OK status=0 code=[] text=<done> values=",
  };
  EXPECT_EQ(run.events, expected);
}

TEST(ImapResponseParser, UidAfterBodyWithOrigin) {
  Observed run = parse_everywhere("* 3 FETCH (BODY[]<0> {5}\r\nhello UID 9)\r\n");
  const std::vector<std::string> expected = {
      "B size=5 msg=3 item=BODY[]<0>",
      "D hello",
      "E",
      "R * #3 name=FETCH code=[] text=<> values=(A:BODY[]<0> LIT:5 A:UID N:9/9)",
  };
  EXPECT_EQ(run.events, expected);
  ASSERT_EQ(run.responses.size(), 1u);
  const Value& items = run.responses[0].values.at(0);
  ASSERT_EQ(items.list.size(), 4u);
  EXPECT_TRUE(items.list[2].is_atom("UID"));
  EXPECT_EQ(items.list[3].number, 9u);
}

TEST(ImapResponseParser, HeaderFieldsSectionIsOneAtom) {
  const std::string header = "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: a@b\r\n\r\n";
  Observed run = parse_everywhere("* 2 FETCH (UID 3 BODY[HEADER.FIELDS (DATE FROM)] {" +
                                  std::to_string(header.size()) + "}\r\n" + header + ")\r\n");
  ASSERT_EQ(run.literals.size(), 1u);
  EXPECT_EQ(run.literals[0].item, "BODY[HEADER.FIELDS (DATE FROM)]");
  EXPECT_EQ(run.literals[0].message_number, 2u);
  EXPECT_EQ(run.events.at(1), "D " + header);
  ASSERT_EQ(run.responses.size(), 1u);
  EXPECT_EQ(dump(run.responses[0].values),
            dump({list({atom("UID"), num(3), atom("BODY[HEADER.FIELDS (DATE FROM)]"), lit(header.size())})}));
}

TEST(ImapResponseParser, AllBodyItemsStreamCaseInsensitively) {
  for (const char* item : {"BODY[]", "body[]", "BODY[TEXT]", "BODY[1.2]", "BODY[HEADER]<100>", "BINARY[]",
                           "BINARY[1]", "RFC822", "rfc822", "RFC822.TEXT", "RFC822.HEADER"}) {
    SCOPED_TRACE(item);
    Observed run = parse_everywhere(std::string("* 7 FETCH (") + item + " {3}\r\nabc)\r\n");
    ASSERT_EQ(run.literals.size(), 1u);
    EXPECT_EQ(run.literals[0].item, item);
    EXPECT_EQ(run.literals[0].size, 3u);
    EXPECT_EQ(run.literals[0].message_number, 7u);
    ASSERT_EQ(run.responses.size(), 1u);
    EXPECT_EQ(dump(run.responses[0].values), dump({list({atom(item), lit(3)})}));
  }
}

TEST(ImapResponseParser, OtherFetchLiteralsAreInlined) {
  // Not body items, or not at the top level of the FETCH list: small values kept inline.
  for (const char* item : {"RFC822.SIZE", "X-GM-LABELS", "BODYSTRUCTURE", "BODY"}) {
    SCOPED_TRACE(item);
    Observed run = parse_everywhere(std::string("* 7 FETCH (") + item + " {3}\r\nabc)\r\n");
    EXPECT_TRUE(run.literals.empty());
    ASSERT_EQ(run.responses.size(), 1u);
    EXPECT_EQ(dump(run.responses[0].values), dump({list({atom(item), str("abc")})}));
  }
  Observed nested = parse_everywhere(
      "* 1 FETCH (ENVELOPE (\"Mon, 1 Jan 2024\" {7}\r\nSubject NIL NIL NIL NIL NIL NIL NIL \"<id@x>\"))\r\n");
  EXPECT_TRUE(nested.literals.empty());
  ASSERT_EQ(nested.responses.size(), 1u);
  EXPECT_EQ(dump(nested.responses[0].values),
            dump({list({atom("ENVELOPE"), list({str("Mon, 1 Jan 2024"), str("Subject"), nil(), nil(), nil(),
                                                nil(), nil(), nil(), nil(), str("<id@x>")})})}));
  // A literal in the key position is not a body value, even after a body item name.
  Observed key = parse_everywhere("* 1 FETCH (BODY[] {1}\r\nx {3}\r\nabc)\r\n");
  ASSERT_EQ(key.literals.size(), 1u);
  ASSERT_EQ(key.responses.size(), 1u);
  EXPECT_EQ(dump(key.responses[0].values), dump({list({atom("BODY[]"), lit(1), str("abc")})}));
  Observed shifted = parse_everywhere("* 1 FETCH (FLAGS BODY[] {3}\r\nabc)\r\n");
  EXPECT_TRUE(shifted.literals.empty());
  ASSERT_EQ(shifted.responses.size(), 1u);
  EXPECT_EQ(dump(shifted.responses[0].values), dump({list({atom("FLAGS"), atom("BODY[]"), str("abc")})}));
}

TEST(ImapResponseParser, ZeroSizeBodyLiteral) {
  Observed run = parse_everywhere("* 1 FETCH (UID 4 BODY[] {0}\r\n)\r\n");
  const std::vector<std::string> expected = {
      "B size=0 msg=1 item=BODY[]",
      "E",
      "R * #1 name=FETCH code=[] text=<> values=(A:UID N:4/4 A:BODY[] LIT:0)",
  };
  EXPECT_EQ(run.events, expected);
}

TEST(ImapResponseParser, TwoBodyLiteralsInOneFetch) {
  Observed run = parse_everywhere("* 1 FETCH (BODY[HEADER] {3}\r\nabc BODY[TEXT] {2}\r\nde UID 1)\r\n");
  const std::vector<std::string> expected = {
      "B size=3 msg=1 item=BODY[HEADER]",
      "D abc",
      "E",
      "B size=2 msg=1 item=BODY[TEXT]",
      "D de",
      "E",
      "R * #1 name=FETCH code=[] text=<> values=(A:BODY[HEADER] LIT:3 A:BODY[TEXT] LIT:2 A:UID N:1/1)",
  };
  EXPECT_EQ(run.events, expected);
}

TEST(ImapResponseParser, Literal8AndNonSynchronisingLiterals) {
  const std::string binary = "\0\x01\xff\r\n"s;
  Observed run =
      parse_everywhere("* 2 FETCH (BINARY[1] ~{5}\r\n" + binary + ")\r\n* LIST () \"/\" {3+}\r\nabc\r\n");
  ASSERT_FALSE(run.failed);
  ASSERT_EQ(run.literals.size(), 1u);
  EXPECT_EQ(run.literals[0].item, "BINARY[1]");
  EXPECT_EQ(run.events.at(1), "D " + binary);
  ASSERT_EQ(run.responses.size(), 2u);
  EXPECT_EQ(dump(run.responses[1].values), dump({list({}), str("/"), str("abc")}));
  // An inline literal8 may carry NUL.
  EXPECT_EQ(dump(parse_one("* 1 FETCH (X ~{3}\r\na\0b)\r\n"s).values),
            dump({list({atom("X"), str("a\0b"s)})}));
}

TEST(ImapResponseParser, SearchResults) {
  Response r = parse_one("* SEARCH 1 2 3\r\n");
  EXPECT_EQ(r.name, "SEARCH");
  EXPECT_EQ(dump(r.values), dump({num(1), num(2), num(3)}));
  Response empty = parse_one("* SEARCH\r\n");
  EXPECT_EQ(empty.name, "SEARCH");
  EXPECT_TRUE(empty.values.empty());
  EXPECT_TRUE(parse_one("* SEARCH \r\n").values.empty());
  Response esearch = parse_one("* ESEARCH (TAG \"p5\") UID ALL 1:3,5 MAX 18446744073709551615\r\n");
  EXPECT_EQ(dump(esearch.values), dump({list({atom("TAG"), str("p5")}), atom("UID"), atom("ALL"),
                                        atom("1:3,5"), atom("MAX"), num(18446744073709551615ull)}));
}

TEST(ImapResponseParser, ByePreauthAndStatusKinds) {
  Response bye = parse_one("* BYE Logging out\r\n");
  EXPECT_EQ(bye.status, StatusKind::Bye);
  EXPECT_EQ(bye.text, "Logging out");
  Response preauth = parse_one("* PREAUTH [CAPABILITY IMAP4rev1] Logged in as joe\r\n");
  EXPECT_EQ(preauth.status, StatusKind::PreAuth);
  EXPECT_EQ(preauth.code, "CAPABILITY IMAP4rev1");
  EXPECT_EQ(preauth.text, "Logged in as joe");
  EXPECT_EQ(parse_one("a NO x\r\n").status, StatusKind::No);
  EXPECT_EQ(parse_one("a BAD x\r\n").status, StatusKind::Bad);
  EXPECT_EQ(parse_one("a ok x\r\n").status, StatusKind::Ok);  // names are case-insensitive
  EXPECT_EQ(parse_one("a ok x\r\n").name, "OK");
  Response bare = parse_one("a1 OK\r\n");
  EXPECT_EQ(bare.status, StatusKind::Ok);
  EXPECT_EQ(bare.text, "");
  EXPECT_EQ(parse_one("* BYE\r\n").status, StatusKind::Bye);
}

TEST(ImapResponseParser, AuthenticationFailed) {
  Response r = parse_one("p1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  EXPECT_EQ(r.kind, ResponseKind::Tagged);
  EXPECT_EQ(r.tag, "p1");
  EXPECT_EQ(r.status, StatusKind::No);
  EXPECT_EQ(r.code, "AUTHENTICATIONFAILED");
  EXPECT_EQ(r.text, "Authentication failed.");
}

TEST(ImapResponseParser, Continuations) {
  Response plain = parse_one("+ Ready for literal data\r\n");
  EXPECT_EQ(plain.kind, ResponseKind::Continuation);
  EXPECT_EQ(plain.text, "Ready for literal data");
  EXPECT_FALSE(plain.status.has_value());
  EXPECT_EQ(parse_one("+ \r\n").text, "");
  Response bare = parse_one("+\r\n");
  EXPECT_EQ(bare.kind, ResponseKind::Continuation);
  EXPECT_EQ(bare.text, "");
  EXPECT_EQ(parse_one("+ AHVzZXI=\r\n").text, "AHVzZXI=");  // a SASL challenge, verbatim
  EXPECT_EQ(parse_one("+ [ALERT] (odd\r\n").text, "[ALERT] (odd");
}

TEST(ImapResponseParser, ExpungeInterleavedBetweenFetches) {
  Observed run = parse_everywhere(
      "* 1 FETCH (UID 10 RFC822.SIZE 100)\r\n"
      "* 2 EXPUNGE\r\n"
      "* 2 FETCH (UID 12 BODY[] {4}\r\nbody)\r\n"
      "* 3 EXPUNGE\r\n"
      "* 2 FETCH (FLAGS (\\Seen \\Deleted))\r\n"
      "p9 OK done\r\n");
  ASSERT_FALSE(run.failed);
  const std::vector<std::string> expected = {
      "R * #1 name=FETCH code=[] text=<> values=(A:UID N:10/10 A:RFC822.SIZE N:100/100)",
      "R * #2 name=EXPUNGE code=[] text=<> values=",
      "B size=4 msg=2 item=BODY[]",
      "D body",
      "E",
      "R * #2 name=FETCH code=[] text=<> values=(A:UID N:12/12 A:BODY[] LIT:4)",
      "R * #3 name=EXPUNGE code=[] text=<> values=",
      "R * #2 name=FETCH code=[] text=<> values=(A:FLAGS (A:\\x5cSeen A:\\x5cDeleted))",  // "\" renders as
                                                                                          // \x5c
      "R tag=p9 name=OK status=0 code=[] text=<done> values=",
  };
  EXPECT_EQ(run.events, expected);
}

TEST(ImapResponseParser, NestedListsAndNil) {
  Response r = parse_one(
      "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 1 NIL NIL "
      "NIL)"
      "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") nil Nil \"QUOTED-PRINTABLE\" 30 2 NIL NIL NIL) "
      "\"ALTERNATIVE\"))\r\n");
  Value text_part = list({str("TEXT"), str("PLAIN"), list({str("CHARSET"), str("utf-8")}), nil(), nil(),
                          str("7BIT"), num(12), num(1), nil(), nil(), nil()});
  Value html_part = list({str("TEXT"), str("HTML"), list({str("CHARSET"), str("utf-8")}), nil(), nil(),
                          str("QUOTED-PRINTABLE"), num(30), num(2), nil(), nil(), nil()});
  EXPECT_EQ(dump(r.values),
            dump({list({atom("BODYSTRUCTURE"), list({text_part, html_part, str("ALTERNATIVE")})})}));

  Response ns = parse_one("* NAMESPACE ((\"\" \"/\")) NIL ((\"#shared/\" \"/\")(\"#public/\" \"/\"))\r\n");
  EXPECT_EQ(dump(ns.values),
            dump({list({list({str(""), str("/")})}), nil(),
                  list({list({str("#shared/"), str("/")}), list({str("#public/"), str("/")})})}));
  EXPECT_EQ(dump(parse_one("* X (((())))\r\n").values), dump({list({list({list({list({})})})})}));
}

TEST(ImapResponseParser, QuotedStringsWithEscapes) {
  Response r = parse_one("* LIST (\\HasNoChildren) \"/\" \"a \\\"b\\\" \\\\c\"\r\n");
  EXPECT_EQ(r.name, "LIST");
  EXPECT_EQ(dump(r.values), dump({list({atom("\\HasNoChildren")}), str("/"), str("a \"b\" \\c")}));
  EXPECT_EQ(parse_one("* X \"\"\r\n").values.at(0).kind, ValueKind::String);
  // 8-bit inside quotes, as UTF8=ACCEPT servers send; unbalanced brackets are plain text.
  EXPECT_EQ(dump(parse_one("* LIST () \"/\" \"Entwürfe (]{\"\r\n").values),
            dump({list({}), str("/"), str("Entwürfe (]{")}));
  // NIL inside quotes is a string.
  EXPECT_EQ(dump(parse_one("* X \"NIL\" NIL NILS\r\n").values), dump({str("NIL"), nil(), atom("NILS")}));
}

TEST(ImapResponseParser, InlineLiteralAsMailboxName) {
  Response r = parse_one("* LIST (\\HasNoChildren) \"/\" {11}\r\nSent \"Items\r\n");
  EXPECT_EQ(dump(r.values), dump({list({atom("\\HasNoChildren")}), str("/"), str("Sent \"Items")}));
  Response crlf = parse_one("* LIST () \"/\" {4}\r\na\r\nb STATUS\r\n");
  EXPECT_EQ(dump(crlf.values), dump({list({}), str("/"), str("a\r\nb"), atom("STATUS")}));
  Response empty = parse_one("* LIST () \"/\" {0}\r\n\r\n");
  EXPECT_EQ(dump(empty.values), dump({list({}), str("/"), str("")}));
}

TEST(ImapResponseParser, CapabilityAndOtherDataKeepValueCase) {
  Response r = parse_one("* capability IMAP4rev1 Literal+ AUTH=PLAIN\r\n");
  EXPECT_EQ(r.name, "CAPABILITY");
  EXPECT_EQ(dump(r.values), dump({atom("IMAP4rev1"), atom("Literal+"), atom("AUTH=PLAIN")}));
  EXPECT_TRUE(r.values[1].is_atom("LITERAL+"));
  EXPECT_FALSE(r.values[1].is_atom("LITERAL"));
  EXPECT_EQ(dump(parse_one("* ENABLED UTF8=ACCEPT\r\n").values), dump({atom("UTF8=ACCEPT")}));
  Response status = parse_one("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n");
  EXPECT_EQ(dump(status.values),
            dump({atom("blurdybloop"), list({atom("MESSAGES"), num(231), atom("UIDNEXT"), num(44292)})}));
  // Outside FETCH, "[" is an ordinary atom character (a mailbox may be named so).
  EXPECT_EQ(dump(parse_one("* LIST () \"/\" foo[bar\r\n").values),
            dump({list({}), str("/"), atom("foo[bar")}));
}

TEST(ImapResponseParser, StatusTextIsFree) {
  Response r = parse_one("* OK [ALERT] text with ] and [ and \" and {5}\r\n");
  EXPECT_EQ(r.code, "ALERT");
  EXPECT_EQ(r.text, "text with ] and [ and \" and {5}");
  Response bad = parse_one("p1 BAD Error in IMAP command: unbalanced ( \"quote\r\n");
  EXPECT_EQ(bad.text, "Error in IMAP command: unbalanced ( \"quote");
  Response quoted = parse_one("* NO [BADCHARSET (\"a]b\")] no such charset\r\n");
  EXPECT_EQ(quoted.code, "BADCHARSET (\"a]b\")");
  EXPECT_EQ(quoted.text, "no such charset");
  Response unterminated = parse_one("* OK [unterminated code\r\n");
  EXPECT_EQ(unterminated.code, "");
  EXPECT_EQ(unterminated.text, "[unterminated code");
  Response eight_bit = parse_one("* OK Grüße\r\n");
  EXPECT_EQ(eight_bit.text, "Grüße");
  Response code_only = parse_one("p2 OK [READ-ONLY]\r\n");
  EXPECT_EQ(code_only.code, "READ-ONLY");
  EXPECT_EQ(code_only.text, "");
}

TEST(ImapResponseParser, TrailingSpaceBeforeCrlf) {
  EXPECT_EQ(dump(parse_one("* 1 FETCH (UID 5) \r\n").values), dump({list({atom("UID"), num(5)})}));
  EXPECT_EQ(parse_one("* 3 EXISTS \r\n").number, 3u);
  EXPECT_EQ(dump(parse_one("* CAPABILITY IMAP4rev1 \r\n").values), dump({atom("IMAP4rev1")}));
  EXPECT_EQ(dump(parse_one("* 1 FETCH (BODY[] {1}\r\nx ) \r\n").values),
            dump({list({atom("BODY[]"), lit(1)})}));
  EXPECT_EQ(parse_one("+ \r\n").kind, ResponseKind::Continuation);
}

TEST(ImapResponseParser, Numbers) {
  EXPECT_EQ(parse_one("* 18446744073709551615 EXISTS\r\n").number, 18446744073709551615ull);
  EXPECT_EQ(dump(parse_one("* X 0 007 18446744073709551615\r\n").values),
            dump({num(0), Value{ValueKind::Number, "007", 7, {}}, num(18446744073709551615ull)}));
  EXPECT_EQ(parse_one("* X 12a\r\n").values.at(0).kind, ValueKind::Atom);
}

TEST(ImapResponseParser, TrailingDataIsLeftForTheNextResponse) {
  ImapResponseParser parser;
  std::string first = "p1 OK done\r\n* 1 EX";
  parser.feed(first);
  ParseEvent event = parser.next();
  ASSERT_TRUE(std::holds_alternative<ResponseReady>(event));
  EXPECT_EQ(std::get<ResponseReady>(event).response.tag, "p1");
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
  std::string second = "ISTS\r\n+ go\r\n* 2 FETCH (BODY[] {3}\r\nab";
  parser.feed(second);
  event = parser.next();
  ASSERT_TRUE(std::holds_alternative<ResponseReady>(event));
  EXPECT_EQ(std::get<ResponseReady>(event).response.name, "EXISTS");
  EXPECT_EQ(std::get<ResponseReady>(event).response.number, 1u);
  event = parser.next();
  ASSERT_TRUE(std::holds_alternative<ResponseReady>(event));
  EXPECT_EQ(std::get<ResponseReady>(event).response.kind, ResponseKind::Continuation);
  EXPECT_TRUE(std::holds_alternative<LiteralBegin>(parser.next()));
  event = parser.next();
  ASSERT_TRUE(std::holds_alternative<LiteralData>(event));
  EXPECT_EQ(std::get<LiteralData>(event).bytes, "ab");
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
  std::string third = "c)\r\n";
  parser.feed(third);
  event = parser.next();
  ASSERT_TRUE(std::holds_alternative<LiteralData>(event));
  EXPECT_EQ(std::get<LiteralData>(event).bytes, "c");
  EXPECT_EQ(std::get<LiteralData>(event).bytes.data(), third.data());
  EXPECT_TRUE(std::holds_alternative<LiteralEnd>(parser.next()));
  EXPECT_TRUE(std::holds_alternative<ResponseReady>(parser.next()));
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
}

TEST(ImapResponseParser, FeedingAgainBeforeConsumingLosesNothing) {
  ImapResponseParser parser;
  std::string a = "* 1 EXISTS\r\n* 2 FETCH (BODY[] {3}\r\na";
  std::string b = "bc)\r\n";
  parser.feed(a);
  ParseEvent event = parser.next();
  ASSERT_TRUE(std::holds_alternative<ResponseReady>(event));
  parser.feed(b);  // a contract slip: `a` was not consumed yet
  EXPECT_TRUE(std::holds_alternative<LiteralBegin>(parser.next()));
  event = parser.next();
  ASSERT_TRUE(std::holds_alternative<LiteralData>(event));
  EXPECT_EQ(std::get<LiteralData>(event).bytes, "abc");
  EXPECT_TRUE(std::holds_alternative<LiteralEnd>(parser.next()));
  event = parser.next();
  ASSERT_TRUE(std::holds_alternative<ResponseReady>(event));
  EXPECT_EQ(std::get<ResponseReady>(event).response.number, 2u);
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
}

// ---- Streaming a large body ----

TEST(ImapResponseParser, TenMebibyteBodyStreamsWithoutCopying) {
  constexpr size_t kBodySize = 10 * 1024 * 1024;
  constexpr size_t kPiece = 64 * 1024;
  auto body_byte = [](size_t i) { return static_cast<char>((i * 131 + i / 7) & 0xff); };
  const std::string head = "* 12 FETCH (UID 77 BODY[] {" + std::to_string(kBodySize) + "}\r\n";
  const std::string tail = " FLAGS (\\Seen))\r\np7 OK Fetch completed.\r\n";
  const size_t total = head.size() + kBodySize + tail.size();
  auto stream_byte = [&](size_t i) {
    if (i < head.size()) return head[i];
    if (i < head.size() + kBodySize) return body_byte(i - head.size());
    return tail[i - head.size() - kBodySize];
  };

  ImapResponseParser parser;
  std::string buffer(kPiece, '\0');  // reused for every feed, as a socket read buffer is
  size_t offset = 0;
  size_t body_seen = 0;
  size_t data_events = 0;
  int begins = 0, ends = 0;
  std::vector<Response> responses;
  while (offset < total) {
    const size_t n = std::min(kPiece, total - offset);
    for (size_t i = 0; i < n; ++i) buffer[i] = stream_byte(offset + i);
    offset += n;
    const std::string_view fed(buffer.data(), n);
    parser.feed(fed);
    for (;;) {
      ParseEvent event = parser.next();
      if (std::holds_alternative<NeedMore>(event)) break;
      ASSERT_FALSE(std::holds_alternative<ParseError>(event)) << std::get<ParseError>(event).reason;
      if (auto* begin = std::get_if<LiteralBegin>(&event)) {
        ++begins;
        EXPECT_EQ(begin->size, kBodySize);
        EXPECT_EQ(begin->message_number, 12u);
      } else if (auto* data = std::get_if<LiteralData>(&event)) {
        ++data_events;
        // The view lies inside the buffer just fed: the parser copied nothing.
        ASSERT_TRUE(points_into(data->bytes, fed));
        for (size_t i = 0; i < data->bytes.size(); i += 4099) {
          ASSERT_EQ(data->bytes[i], body_byte(body_seen + i));
        }
        ASSERT_EQ(data->bytes.back(), body_byte(body_seen + data->bytes.size() - 1));
        body_seen += data->bytes.size();
      } else if (std::holds_alternative<LiteralEnd>(event)) {
        ++ends;
      } else if (auto* ready = std::get_if<ResponseReady>(&event)) {
        responses.push_back(ready->response);
      }
    }
  }
  EXPECT_EQ(begins, 1);
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(body_seen, kBodySize);
  EXPECT_EQ(data_events, kBodySize / kPiece + 1);  // one per feed the body touches
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(dump(responses[0].values), dump({list({atom("UID"), num(77), atom("BODY[]"), lit(kBodySize),
                                                   atom("FLAGS"), list({atom("\\Seen")})})}));
  EXPECT_EQ(responses[1].tag, "p7");
}

// ---- Limits ----

TEST(ImapResponseParserLimits, MaxLineCountsCrlfAndIsExact) {
  ParserLimits limits;
  limits.max_line = 16;
  const std::string fits = "* SEARCH 123456\r\n";  // 17 octets
  ASSERT_EQ(fits.size(), 17u);
  Observed over = parse_everywhere(fits, limits);
  EXPECT_TRUE(over.failed);
  limits.max_line = 17;
  EXPECT_FALSE(parse_everywhere(fits, limits).failed);
  // An endless line fails as soon as it passes the limit, without waiting for CRLF.
  limits.max_line = 100;
  Observed endless = run_chunks({std::string(60, 'a'), std::string(60, 'a')}, limits);
  EXPECT_TRUE(endless.failed);
  // Streamed body octets do not count; the non-literal parts of one response do.
  limits.max_line = 64;
  EXPECT_FALSE(
      parse_everywhere("* 1 FETCH (BODY[] {1000}\r\n" + std::string(1000, 'x') + ")\r\n", limits).failed);
  std::string many = "* 1 FETCH (X";
  for (int i = 0; i < 10; ++i) many += " BODY[] {1}\r\nx";
  many += ")\r\n";
  EXPECT_TRUE(run_chunks({many}, limits).failed);
  // The count starts again for every response.
  std::string repeated;
  for (int i = 0; i < 20; ++i) repeated += "* 1 FETCH (UID 12345678)\r\n";
  EXPECT_FALSE(run_chunks({repeated}, limits).failed);
}

TEST(ImapResponseParserLimits, MaxInlineLiteral) {
  ParserLimits limits;
  limits.max_inline_literal = 8;
  EXPECT_FALSE(parse_everywhere("* LIST () \"/\" {8}\r\n12345678\r\n", limits).failed);
  Observed over = run_chunks({"* LIST () \"/\" {9}\r\n"}, limits);  // refused before the data arrives
  EXPECT_TRUE(over.failed);
  // The budget is per response and shared by its literals.
  EXPECT_TRUE(run_chunks({"* X {4}\r\n1234 {5}\r\n12345\r\n"}, limits).failed);
  EXPECT_FALSE(parse_everywhere("* X {4}\r\n1234 {4}\r\n1234\r\n* X {8}\r\n12345678\r\n", limits).failed);
  // Body literals are streamed, never inlined, so they are not bound by it.
  EXPECT_FALSE(
      parse_everywhere("* 1 FETCH (BODY[] {100}\r\n" + std::string(100, 'b') + ")\r\n", limits).failed);
  // Default limit: one MiB.
  EXPECT_TRUE(run_chunks({"* LIST () \"/\" {1048577}\r\n"}).failed);
  EXPECT_TRUE(run_chunks({"* LIST () \"/\" {18446744073709551615}\r\n"}).failed);
}

TEST(ImapResponseParserLimits, MaxNesting) {
  ParserLimits limits;
  limits.max_nesting = 3;
  EXPECT_FALSE(parse_everywhere("* X (((a)))\r\n", limits).failed);
  EXPECT_TRUE(parse_everywhere("* X ((((a))))\r\n", limits).failed);
  const std::string deep_ok = "* X " + std::string(64, '(') + std::string(64, ')') + "\r\n";
  EXPECT_FALSE(run_chunks({deep_ok}).failed);
  const std::string too_deep = "* X " + std::string(65, '(') + std::string(65, ')') + "\r\n";
  EXPECT_TRUE(run_chunks({too_deep}).failed);
  EXPECT_TRUE(run_chunks({"* X " + std::string(100000, '(') + "\r\n"}).failed);
}

// ---- Malformed input ----

class ImapMalformedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ImapMalformedTest, YieldsParseError) {
  Observed run = parse_everywhere(GetParam());
  EXPECT_TRUE(run.failed) << escape(GetParam());
  EXPECT_TRUE(run.responses.empty()) << escape(GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    ImapParser, ImapMalformedTest,
    ::testing::Values(
        "garbage\r\n", "hello world\r\n", "\r\n", "(foo)\r\n", ")\r\n", "\"a1\" OK\r\n", "*\r\n", "*x\r\n",
        "* \r\n", "* 3\r\n", "* 3 \r\n", "* 3(\r\n", "a1\r\n", "a1 \r\n", "a1 FOO bar\r\n", "a+1 OK x\r\n",
        "a1 OK\n", "* OK fine\n", "+x\r\n", "+\n", "\x80 OK\r\n",
        // missing CRLF after the closing paren, or values glued together
        "* 1 FETCH (UID 5)* 2 FETCH (UID 6)\r\n", "* 1 FETCH (UID 5)X\r\n", "* 1 FETCH (\"a\"\"b\")\r\n",
        "* X \"a\"b\r\n", "* X a(b)\r\n", "* X {3}\r\nabcd\r\n", "* X (a)b\r\n", "* X (a)\"b\"\r\n",
        "* X \"a\"(b)\r\n", "* X (BODY[] {1}\r\nx(a))\r\n",
        // unbalanced parentheses at CRLF
        "* 1 FETCH (UID 5\r\n", "* 1 FETCH UID 5)\r\n", "* 1 FETCH (UID 5))\r\n", "* X ((a)\r\n",
        // quoted strings
        "* LIST () \"/\" \"unterminated\r\n", "* LIST () \"/\" \"bad \\n escape\"\r\n", "* X \"a\\\"\r\n",
        // literal announcements
        "* X {abc}\r\n", "* X {}\r\n", "* X {5\r\n", "* X {5}x\r\n", "* X {-1}\r\n", "* X {5}}\r\n",
        "* X {+}\r\n", "* X ~{}\r\n", "* X {99999999999999999999999}\r\n", "* X {5} \r\n",
        // FETCH item names
        "* 1 FETCH (BODY[HEADER {3}\r\nabc)\r\n", "* 1 FETCH (BODY[]<x> {3}\r\nabc)\r\n",
        "* 1 FETCH (BODY[]<1 {3}\r\nabc)\r\n", "* 1 FETCH (BODY[]<> {3}\r\nabc)\r\n",
        // after a literal
        "* 1 FETCH (BODY[] {3}\r\nabc\r\n", "* 1 FETCH (BODY[] {3}\r\nabcUID 5)\r\n",
        "* 1 FETCH (BODY[] {1}\r\nx)\n", "* LIST () \"/\" {1}\r\nxy\r\n",
        // numbers
        "* 18446744073709551616 EXISTS\r\n", "* SEARCH 99999999999999999999\r\n",
        // NUL and other control characters outside literals
        "* OK hello\0world\r\n"s, "* SEARCH 1\0\r\n"s, "a\0 OK\r\n"s, "+ \0\r\n"s, "* SEARCH 1 \x01 2\r\n",
        "* X a\tb\r\n", "* 1 FETCH (BODY[] {1}\r\nx \0)\r\n"s));

// ---- Random input ----

// Uniform random bytes: nothing may crash or loop, every split must agree, and unless the
// bytes happen to open a continuation (whose text is free) the result is a ParseError.
TEST(ImapResponseParserFuzz, RandomBytesYieldParseError) {
  std::mt19937 rng(20240611);
  for (int i = 0; i < 3000; ++i) {
    std::string input;
    const size_t length = 1 + rng() % 64;
    for (size_t j = 0; j < length; ++j) input.push_back(static_cast<char>(rng() & 0xff));
    if (input[0] == '+') input[0] = '!';
    input += "\r\n";
    Observed whole = run_chunks({input});
    EXPECT_TRUE(whole.failed) << escape(input);
    const size_t split = rng() % input.size();
    EXPECT_EQ(run_chunks({input.substr(0, split), input.substr(split)}).events, whole.events)
        << escape(input);
  }
}

// IMAP-flavoured token soup and mutated real transcripts: whatever they parse to, the
// result must not depend on how the bytes were split.
TEST(ImapResponseParserFuzz, TokenSoupAndMutationsAgreeAcrossSplits) {
  const std::vector<std::string> tokens = {
      "* ",   "+ ",      "p1 ",     "OK ",    "FETCH ", "1 ",   "(",      ")",  " ",
      "\r\n", "{3}\r\n", "{0}\r\n", "abc",    "\"",     "\\",   "BODY[",  "]",  "<0>",
      "NIL",  "[",       "~{2}",    "UID 5 ", "\n",     "\r",   "0",      "99", "{",
      "}",    "BODY[] ", "EXISTS",  "SEARCH", "\0"s,    "\x80", "RFC822 "};
  const std::vector<std::string> transcripts = {
      "* OK [CAPABILITY IMAP4rev1] ready\r\np1 OK done\r\n",
      "* 3 FETCH (UID 9 BODY[] {5}\r\nhello FLAGS (\\Seen))\r\n* 2 EXPUNGE\r\n",
      "* LIST (\\HasNoChildren) \"/\" {4}\r\nab\"c\r\n* SEARCH 1 2\r\n+ go\r\n",
      "* 1 FETCH (BODY[HEADER.FIELDS (DATE)]<0> {2}\r\nab BINARY[1] ~{1}\r\nx)\r\n",
  };
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string input;
    if (i % 2 == 0) {
      const size_t count = 1 + rng() % 24;
      for (size_t j = 0; j < count; ++j) input += tokens[rng() % tokens.size()];
    } else {
      input = transcripts[rng() % transcripts.size()];
      const size_t mutations = 1 + rng() % 3;
      for (size_t j = 0; j < mutations && !input.empty(); ++j) {
        const size_t at = rng() % input.size();
        switch (rng() % 3) {
          case 0:
            input[at] = static_cast<char>(rng() & 0xff);
            break;
          case 1:
            input.erase(at, 1);
            break;
          default:
            input.insert(at, 1, static_cast<char>(rng() & 0xff));
            break;
        }
      }
    }
    Observed whole = run_chunks({input});
    std::vector<std::string> chunks;
    for (size_t pos = 0; pos < input.size();) {
      const size_t n = 1 + rng() % 7;
      chunks.push_back(input.substr(pos, n));
      pos += n;
    }
    EXPECT_EQ(run_chunks(chunks).events, whole.events) << escape(input);
  }
}

}  // namespace
}  // namespace popgate::imap
