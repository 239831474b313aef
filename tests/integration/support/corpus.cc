// A deterministic test corpus of RFC 5322 messages that exercise POP3 byte-stuffing and IMAP literals.
#include "tests/integration/support/corpus.h"

#include <cstdint>
#include <stdexcept>

namespace popgate::integration {
namespace {

// splitmix64: small, fast and the same on every platform.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }

 private:
  uint64_t state_;
};

std::string headers(std::string_view label, std::string_view eol = "\r\n", std::string_view extra = "") {
  std::string h;
  h += "Return-Path: <corpus@example.test>";
  h += eol;
  h += "From: Corpus Generator <corpus@example.test>";
  h += eol;
  h += "To: Alice <alice@example.test>";
  h += eol;
  h += "Subject: ";
  h += label;
  h += eol;
  h += "Message-ID: <";
  h += label;
  h += "@corpus.popgate.test>";
  h += eol;
  h += "Date: Mon, 01 Jan 2024 12:00:00 +0000";
  h += eol;
  h += "MIME-Version: 1.0";
  h += eol;
  h += extra;
  return h;
}

// A line of printable text, sometimes starting with one or two dots, sometimes 8-bit.
std::string random_line(Random& rng, size_t max_length) {
  static constexpr std::string_view kText =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+!?()<>[]{}'\"/\\|@#$%^&*~`";
  std::string line;
  switch (rng.below(16)) {
    case 0:
      return ".";
    case 1:
      line = "..";
      break;
    case 2:
    case 3:
      line = ".";
      break;
    default:
      break;
  }
  const size_t length = rng.below(max_length + 1);
  const bool eight_bit = rng.below(8) == 0;
  for (size_t i = 0; i < length; ++i) {
    if (eight_bit && rng.below(4) == 0) {
      line += static_cast<char>(0x80 + rng.below(0x80));
    } else {
      line += kText[rng.below(kText.size())];
    }
  }
  return line;
}

std::string dots() {
  return headers("dots") +
         "\r\n"
         ".\r\n"
         "..\r\n"
         "...\r\n"
         ".leading dot\r\n"
         "..two leading dots\r\n"
         ". space after dot\r\n"
         "middle . dot and a final dot.\r\n"
         "\r\n"
         ".\r\n"
         "\r\n"
         "..\r\n"
         ".\r\n";
}

std::string bare_lf() {
  return headers("bare-lf", "\n") +
         "\n"
         "Every line of this message ends in a bare LF.\n"
         ".\n"
         "..\n"
         ".leading dot\n"
         "\n"
         "last line\n";
}

std::string mixed_endings() {
  return headers("mixed-endings", "\n") +
         "\r\n"
         "crlf line\r\n"
         "lf line\n"
         ".dot after lf\n"
         ".\r\n"
         "..\n"
         "\n"
         "\r\n"
         "end\n";
}

std::string utf8() {
  return headers("utf8", "\r\n",
                 "X-Greeting: Gr\xC3\xBC\xC3\x9F"
                 "e aus K\xC3\xB6ln \xE2\x9C\x89\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n") +
         "\r\n"
         "\xC3\x84rger \xC3\xBC"
         "ber \xC3\x9F und \xE2\x82\xAC, \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E, \xF0\x9F\x93\xA7\r\n"
         ".\xC3\xA9t\xC3\xA9 commence par un point\r\n"
         "..\xE2\x80\xA6\r\n";
}

std::string latin1() {
  std::string every_byte;
  for (int b = 1; b < 256; ++b) {
    if (b != '\r' && b != '\n') every_byte += static_cast<char>(b);
  }
  return headers("latin1", "\r\n",
                 "X-Latin1: caf\xE9 cr\xE8me br\xFBl\xE9"
                 "e\r\n"
                 "Content-Type: text/plain; charset=iso-8859-1\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n") +
         "\r\n"
         "Gr\xFC\xDF"
         "e, \xE0 bient\xF4t, \xA9 \xB0 \xBD \xFF\r\n" +
         every_byte + "\r\n." + every_byte + "\r\n";
}

std::string no_final_newline() {
  return headers("no-final-newline") +
         "\r\n"
         "The last line has no line ending and starts with a dot:\r\n"
         ".last line";
}

std::string headers_only() {
  return headers("headers-only") + "\r\n";
}

std::string headers_no_blank() {
  return headers("headers-no-blank");
}

std::string long_line() {
  std::string body = ".";
  Random rng(7);
  while (body.size() < 100 * 1024) body += static_cast<char>('a' + rng.below(26));
  return headers("long-line") + "\r\n" + body + "\r\nshort line after\r\n" + std::string(1000, 'x') + "\r\n";
}

std::string large(size_t target) {
  std::string m = headers("large");
  m += "\r\n";
  m.reserve(target + 512);
  Random rng(20);
  while (m.size() < target) {
    m += random_line(rng, 160);
    // Mostly CRLF, some bare LF, so both conversions run across buffer boundaries.
    m += rng.below(10) == 0 ? "\n" : "\r\n";
  }
  return m;
}

std::string small(size_t i) {
  Random rng(1000 + i);
  std::string label = "small-" + std::string(i < 100 ? (i < 10 ? "00" : "0") : "") + std::to_string(i);
  std::string m = headers(label) + "\r\n";
  const size_t lines = 2 + rng.below(40);
  for (size_t l = 0; l < lines; ++l) m += random_line(rng, 90) + "\r\n";
  return m;
}

}  // namespace

std::vector<CorpusMessage> make_corpus(const CorpusOptions& options) {
  std::vector<CorpusMessage> corpus = {
      {"dots", dots()},
      {"bare-lf", bare_lf()},
      {"mixed-endings", mixed_endings()},
      {"utf8", utf8()},
      {"latin1", latin1()},
      {"no-final-newline", no_final_newline()},
      {"headers-only", headers_only()},
      {"headers-no-blank", headers_no_blank()},
      {"long-line", long_line()},
  };
  if (options.include_large) corpus.push_back({"large", large(options.large_size)});
  for (size_t i = 0; i < options.small_count; ++i) {
    std::string m = small(i);
    std::string label = m.substr(m.find("Subject: ") + 9);
    label = label.substr(0, label.find('\r'));
    corpus.push_back({std::move(label), std::move(m)});
  }
  return corpus;
}

std::vector<CorpusMessage> make_small_corpus(size_t count) {
  std::vector<CorpusMessage> corpus;
  for (size_t i = 1; i <= count; ++i) {
    std::string label = "note-" + std::to_string(i);
    corpus.push_back(
        {label, headers(label) + "\r\nThis is note " + std::to_string(i) + ".\r\n.and a dot line\r\n"});
  }
  return corpus;
}

size_t message_number(const std::vector<CorpusMessage>& corpus, std::string_view label) {
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (corpus[i].label == label) return i + 1;
  }
  throw std::out_of_range("no corpus message labelled " + std::string(label));
}

}  // namespace popgate::integration
