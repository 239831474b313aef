// A deterministic test corpus of RFC 5322 messages that exercise POP3 byte-stuffing and IMAP literals.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::integration {

struct CorpusMessage {
  std::string label;  // also the Subject header ("dots", "bare-lf", "large", "small-042", ...)
  std::string bytes;  // exactly as stored in the Maildir file
};

struct CorpusOptions {
  bool include_large = true;
  size_t large_size = 20 * 1024 * 1024;
  size_t small_count = 500;
};

// The special messages, then the large one, then the small ones; POP3 message n is corpus[n - 1]
// when delivered in this order into an empty mailbox. No message contains a NUL byte: Dovecot's IMAP
// turns NUL into 0x80 while its POP3 sends it raw, so NUL cannot round-trip through any IMAP gateway.
//
// Special labels: "dots" (lines ".", "..", ".x", "..x", "\r\n.\r\n" inside, body ending in a "." line),
// "bare-lf" (every line ends in LF only), "mixed-endings", "utf8" and "latin1" (8-bit headers and
// body; latin1 has every byte 0x01-0xFF), "no-final-newline" (last line starts with "." and has no
// line ending), "headers-only" (headers, blank line, empty body), "headers-no-blank" (headers and no
// separator line), "long-line" (a 100 KiB line starting with ".").
std::vector<CorpusMessage> make_corpus(const CorpusOptions& options = {});

// A few small plain messages for tests that only need "some mail" ("note-1", "note-2", ...).
std::vector<CorpusMessage> make_small_corpus(size_t count);

// 1-based POP3 message number of `label` in `corpus`; throws std::out_of_range if absent.
size_t message_number(const std::vector<CorpusMessage>& corpus, std::string_view label);

}  // namespace popgate::integration
