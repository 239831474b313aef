// fuzz_pop3_server: random client streams, split at random points, against Pop3Server, with a fake
// mailbox answering its actions now or later. Checks what clients and the upstream rely on: replies
// are CRLF lines of bounded length; Commit follows only QUIT in TRANSACTION and carries exactly the
// messages DELEd and not RSET; Retrieve names a listed, undeleted message; nothing is processed
// while an action is in flight; completions of actions not in flight are ignored; nothing after Close.
//
// Input layout (FuzzedDataProvider): the client's bytes come from the front, the harness's
// decisions (chunk sizes, the mailbox's answers and their timing) from the back, so a recorded
// POP3 session with a few zero octets appended is a meaningful seed: a zero decision means
// "succeed at once", with three messages in the maildrop.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/common/error.h"
#include "protocol/pop3/pop3_server.h"
#include "tests/fuzz/fuzz_check.h"

namespace popgate::fuzz {
namespace {

using pop3::Event;
using pop3::State;

constexpr size_t kMaxReplyLine = 512;  // RFC 2449 §4: a response line, CRLF included
constexpr size_t kMaxMessages = 12;
constexpr size_t kMaxChunk = 48;
constexpr int kMaxEventsPerDrain = 100000;  // far above any real drain: more means a livelock

// Rare decisions that are not completions.
constexpr uint8_t kShutdown = 0xff;
constexpr uint8_t kIdleTimeout = 0xfe;
constexpr uint8_t kLateCompletions = 0xfd;

// A command line as the model reads it (RFC 1939 §3), independently of pop3_command.cc.
struct ClientLine {
  std::string keyword;  // upper-cased
  std::string rest;     // everything after the first space
  std::vector<std::string> args;
};

ClientLine split_line(std::string_view line) {
  ClientLine out;
  const size_t space = line.find(' ');
  for (const char c : line.substr(0, space)) out.keyword += (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
  if (space == std::string_view::npos) return out;
  out.rest = std::string(line.substr(space + 1));
  std::string current;
  for (const char c : out.rest) {
    if (c != ' ') {
      current += c;
    } else if (!current.empty()) {
      out.args.push_back(std::exchange(current, {}));
    }
  }
  if (!current.empty()) out.args.push_back(current);
  return out;
}

std::optional<uint64_t> decimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::string trim_spaces(std::string_view text) {
  const size_t first = text.find_first_not_of(' ');
  if (first == std::string_view::npos) return {};
  return std::string(text.substr(first, text.find_last_not_of(' ') - first + 1));
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Every reply is one or more CRLF lines without stray CR or LF, none over the RFC 2449 bound;
// a multi-line one starts with +OK and ends with the "." line.
void check_reply(std::string_view bytes) {
  FUZZ_CHECK(bytes.size() >= 2 && bytes.substr(bytes.size() - 2) == "\r\n");
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < bytes.size();) {
    const size_t crlf = bytes.find("\r\n", start);
    FUZZ_CHECK(crlf != std::string_view::npos);
    const std::string_view line = bytes.substr(start, crlf - start);
    FUZZ_CHECK(line.find_first_of("\r\n") == std::string_view::npos);
    FUZZ_CHECK(line.size() + 2 <= kMaxReplyLine);
    lines.push_back(line);
    start = crlf + 2;
  }
  const std::string_view first = lines.front();
  // RFC 5034 §4: a SASL challenge is "+" SP and base64 (empty for PLAIN).
  FUZZ_CHECK(starts_with(first, "+OK") || starts_with(first, "-ERR") || starts_with(first, "+ "));
  if (lines.size() > 1) {
    FUZZ_CHECK(starts_with(first, "+OK"));
    FUZZ_CHECK(lines.back() == ".");
    for (size_t i = 1; i + 1 < lines.size(); ++i) FUZZ_CHECK(!starts_with(lines[i], "."));
  }
}

bool allowed_before_login(std::string_view keyword) {
  return keyword == "USER" || keyword == "PASS" || keyword == "AUTH" || keyword == "STLS" ||
         keyword == "CAPA" || keyword == "QUIT";
}

bool allowed_after_login(std::string_view keyword) {
  return keyword == "STAT" || keyword == "LIST" || keyword == "RETR" || keyword == "DELE" ||
         keyword == "NOOP" || keyword == "RSET" || keyword == "TOP" || keyword == "UIDL" ||
         keyword == "CAPA" || keyword == "QUIT";
}

pop3::Options make_options(FuzzedDataProvider& decisions) {
  pop3::Options options;
  const auto flags = decisions.ConsumeIntegral<uint8_t>();
  options.plaintext_auth_allowed = (flags & 1) == 0;
  options.stls_offered = (flags & 2) != 0;
  if ((flags & 4) != 0) {  // tight limits, so that short inputs reach them
    auto& limits = options.limits;
    limits.max_command_line = decisions.ConsumeIntegralInRange<size_t>(16, 64);
    limits.max_sasl_line = decisions.ConsumeIntegralInRange<size_t>(16, 96);
    limits.max_bad_commands_before_login = decisions.ConsumeIntegralInRange<unsigned>(1, 4);
    limits.max_bad_commands_after_login = decisions.ConsumeIntegralInRange<unsigned>(1, 8);
    // As in production (--max-line-length is at most 64 KiB): a whole line always fits.
    limits.max_buffered_input = std::max(limits.max_command_line, limits.max_sasl_line) +
                                decisions.ConsumeIntegralInRange<size_t>(0, 256);
  }
  return options;
}

// What the harness has handed to the fake mailbox and not answered yet.
enum class InFlight { None, Auth, Retrieve, Streaming, Commit, StartTls };
enum class ModelState { Authorization, Transaction, Update, Closed };

class Pop3Harness {
 public:
  explicit Pop3Harness(FuzzedDataProvider& input)
      : input_(input), options_(make_options(input)), server_(options_) {}

  void run() {
    check_reply(server_.greeting());
    while (input_.remaining_bytes() > 0 && model_ != ModelState::Closed) {
      backlog_ += input_.ConsumeBytesAsString(input_.ConsumeIntegralInRange<size_t>(1, kMaxChunk));
      deliver();
      drain();
      act(input_.ConsumeIntegral<uint8_t>());
      drain();
    }
    // The client sent everything and waits: answer what is in flight, let it read the rest.
    for (int round = 0; model_ != ModelState::Closed && (in_flight_ != InFlight::None || !backlog_.empty());
         ++round) {
      FUZZ_CHECK(round < kMaxEventsPerDrain);
      if (in_flight_ != InFlight::None) complete(0, 0);
      drain();
      deliver();
      drain();
    }
    if (model_ != ModelState::Closed) {
      server_.shutdown();
      after_session_event();
      drain();
    }
    FUZZ_CHECK(model_ == ModelState::Closed);
    FUZZ_CHECK(server_.state() == State::Closed);
  }

 private:
  // Hands the backlog to the server when it reads, as Pop3Session does.
  void deliver() {
    if (backlog_.empty()) return;
    if (server_.state() == State::Closed) {
      server_.receive(backlog_);
      FUZZ_CHECK(server_.buffered_input() == 0);  // nothing the client says matters any more
      backlog_.clear();
      return;
    }
    if (!server_.wants_input()) return;
    const size_t before = server_.buffered_input();
    server_.receive(backlog_);
    FUZZ_CHECK(server_.buffered_input() == before + backlog_.size());
    buffered_ += backlog_;
    backlog_.clear();
  }

  // The server's buffer only ever loses its front (lines taken) or everything (a wipe).
  std::string take_consumed() {
    FUZZ_CHECK(server_.buffered_input() <= buffered_.size());
    const size_t consumed = buffered_.size() - server_.buffered_input();
    std::string taken = buffered_.substr(0, consumed);
    buffered_.erase(0, consumed);
    return taken;
  }

  void drain() {
    for (int i = 0;; ++i) {
      FUZZ_CHECK(i < kMaxEventsPerDrain);
      FUZZ_CHECK(buffered_.size() == server_.buffered_input());
      const Event event = server_.next_event();
      const std::string taken = take_consumed();
      if (model_ == ModelState::Closed) {
        FUZZ_CHECK(std::holds_alternative<pop3::Close>(event));
        return;
      }
      // The line this event answers: the last one taken off the input (an over-long line
      // before it may have been skipped to its LF). None when the event answers no new line.
      std::optional<ClientLine> line;
      bool sasl_line = false;
      if (!taken.empty() && server_.state() != State::Closed && taken.back() == '\n') {
        std::string_view text(taken);
        text.remove_suffix(1);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        const size_t previous_lf = text.rfind('\n');
        if (previous_lf != std::string_view::npos) text.remove_prefix(previous_lf + 1);
        line = split_line(text);
        sasl_line = std::exchange(sasl_continuation_, false);
      } else if (!taken.empty()) {
        sasl_continuation_ = false;  // an over-long line ends an AUTH exchange too
      }
      if (!handle(event, taken, line, sasl_line)) return;
    }
  }

  // Checks one event against the model; false when the drain is over.
  bool handle(const Event& event, const std::string& taken, const std::optional<ClientLine>& line,
              bool sasl_line) {
    if (std::holds_alternative<pop3::NeedInput>(event)) {
      FUZZ_CHECK(in_flight_ == InFlight::None);
      FUZZ_CHECK(buffered_.find('\n') == std::string::npos);  // no whole line left unanswered
      FUZZ_CHECK(server_.wants_input());                      // else the session would stall
      FUZZ_CHECK(!expect_silent_close_);
      return false;
    }
    if (std::holds_alternative<pop3::Waiting>(event)) {
      FUZZ_CHECK(in_flight_ != InFlight::None);
      FUZZ_CHECK(taken.empty());  // pipelined commands wait for the action
      return false;
    }
    if (const auto* reply = std::get_if<pop3::SendReply>(&event)) {
      FUZZ_CHECK(!expect_silent_close_);  // mid-body, an -ERR would read as message text
      check_reply(reply->bytes);
      if (line && starts_with(reply->bytes, "+ ")) {
        // A challenge: the next line is a SASL response (RFC 5034 §4, RFC 7628 §3.2.2).
        FUZZ_CHECK(sasl_line || line->keyword == "AUTH");
        FUZZ_CHECK(model_ == ModelState::Authorization);
        sasl_continuation_ = true;
      } else if (line && !sasl_line) {
        check_command_reply(*line, reply->bytes);
      }
      last_reply_ = reply->bytes;
      return true;
    }
    if (const auto* auth = std::get_if<pop3::Authenticate>(&event)) {
      FUZZ_CHECK(line.has_value());
      FUZZ_CHECK(model_ == ModelState::Authorization && in_flight_ == InFlight::None);
      if (auth->mechanism == "USER") {
        FUZZ_CHECK(options_.plaintext_auth_allowed || server_.tls_active());
        FUZZ_CHECK(!sasl_line && line->keyword == "PASS");
        FUZZ_CHECK(auth->password.reveal() == line->rest && !line->rest.empty());
        FUZZ_CHECK(!user_.empty() && auth->user == user_);
        user_.clear();  // used up: after a failure the client sends USER again
      } else {
        FUZZ_CHECK(auth->mechanism == "PLAIN" || auth->mechanism == "XOAUTH2" ||
                   auth->mechanism == "OAUTHBEARER");
        if (auth->mechanism == "PLAIN") FUZZ_CHECK(options_.plaintext_auth_allowed || server_.tls_active());
        FUZZ_CHECK(sasl_line || line->keyword == "AUTH");
      }
      in_flight_ = InFlight::Auth;
      return true;
    }
    if (const auto* retrieve = std::get_if<pop3::Retrieve>(&event)) {
      FUZZ_CHECK(line.has_value() && !sasl_line);
      FUZZ_CHECK(model_ == ModelState::Transaction && in_flight_ == InFlight::None);
      if (line->keyword == "RETR") {
        FUZZ_CHECK(line->args.size() == 1 && !retrieve->top_lines);
      } else {
        FUZZ_CHECK(line->keyword == "TOP" && line->args.size() == 2);
        FUZZ_CHECK(retrieve->top_lines && retrieve->top_lines == decimal(line->args[1]));
      }
      const std::optional<uint64_t> number = decimal(line->args[0]);
      FUZZ_CHECK(number && *number >= 1 && *number <= listing_.size());
      FUZZ_CHECK(retrieve->index == *number - 1);
      FUZZ_CHECK(deleted_.count(retrieve->index) == 0);
      retrieving_ = *retrieve;
      in_flight_ = InFlight::Retrieve;
      return true;
    }
    if (const auto* commit = std::get_if<pop3::Commit>(&event)) {
      // RFC 1939 §6: only QUIT in TRANSACTION enters UPDATE, the one place anything is deleted.
      FUZZ_CHECK(line.has_value() && !sasl_line && line->keyword == "QUIT");
      FUZZ_CHECK(model_ == ModelState::Transaction && in_flight_ == InFlight::None);
      FUZZ_CHECK(server_.state() == State::Update);
      FUZZ_CHECK(commit->deleted == std::vector<size_t>(deleted_.begin(), deleted_.end()));
      model_ = ModelState::Update;
      in_flight_ = InFlight::Commit;
      return true;
    }
    if (std::holds_alternative<pop3::StartTls>(event)) {
      FUZZ_CHECK(taken.empty() && last_reply_ == "+OK Begin TLS negotiation now.\r\n");
      FUZZ_CHECK(options_.stls_offered && !server_.tls_active());
      FUZZ_CHECK(model_ == ModelState::Authorization && in_flight_ == InFlight::None);
      in_flight_ = InFlight::StartTls;
      return true;
    }
    FUZZ_CHECK(std::holds_alternative<pop3::Close>(event));
    FUZZ_CHECK(server_.state() == State::Closed && server_.buffered_input() == 0);
    model_ = ModelState::Closed;
    in_flight_ = InFlight::None;  // actions not yet answered are abandoned
    expect_silent_close_ = false;
    FUZZ_CHECK(std::holds_alternative<pop3::Close>(server_.next_event()));  // for ever
    return false;
  }

  // The model's view of a command's direct reply.
  void check_command_reply(const ClientLine& line, std::string_view reply) {
    if (reply == "-ERR Line too long.\r\n") return;  // refused for its length, whatever it says
    if (!starts_with(reply, "+OK")) {
      // An -ERR leaves the maildrop as it was; DELE of a listed, undeleted message never fails.
      if (line.keyword == "DELE" && model_ == ModelState::Transaction && line.args.size() == 1) {
        const std::optional<uint64_t> number = decimal(line.args[0]);
        FUZZ_CHECK(!number || *number == 0 || *number > listing_.size() || deleted_.count(*number - 1) > 0);
      }
      return;
    }
    FUZZ_CHECK(model_ == ModelState::Authorization ? allowed_before_login(line.keyword)
                                                   : allowed_after_login(line.keyword));
    if (line.keyword == "USER") {
      user_ = trim_spaces(line.rest);
    } else if (line.keyword == "DELE") {
      FUZZ_CHECK(line.args.size() == 1);
      const std::optional<uint64_t> number = decimal(line.args[0]);
      FUZZ_CHECK(number && *number >= 1 && *number <= listing_.size());
      FUZZ_CHECK(deleted_.insert(*number - 1).second);
    } else if (line.keyword == "RSET") {
      deleted_.clear();
    } else if (line.keyword == "STAT") {
      uint64_t octets = 0;
      for (size_t i = 0; i < listing_.size(); ++i) {
        if (deleted_.count(i) == 0) octets += listing_[i].size;
      }
      FUZZ_CHECK(reply == "+OK " + std::to_string(listing_.size() - deleted_.size()) + " " +
                              std::to_string(octets) + "\r\n");
    }
  }

  void act(uint8_t decision) {
    if (decision == kShutdown || decision == kIdleTimeout) {
      if (decision == kShutdown) {
        server_.shutdown();
      } else {
        server_.idle_timeout();
      }
      after_session_event();
      return;
    }
    if (decision == kLateCompletions) {
      late_completions();
      return;
    }
    // Mostly answer at once; otherwise the client goes on sending while the action runs.
    if (in_flight_ != InFlight::None && decision % 4 == 0) {
      const auto outcome = input_.ConsumeIntegral<uint8_t>();
      complete(outcome, input_.ConsumeIntegral<uint8_t>());
    }
  }

  void after_session_event() {
    FUZZ_CHECK(server_.state() == State::Closed);
    // The body already started: only closing tells the client, no -ERR may follow it.
    expect_silent_close_ = in_flight_ == InFlight::Streaming;
    in_flight_ = InFlight::None;
    FUZZ_CHECK(server_.buffered_input() == 0);
    buffered_.clear();
  }

  void complete(uint8_t outcome, uint8_t detail) {
    switch (in_flight_) {
      case InFlight::None:
        return;
      case InFlight::Auth:
        in_flight_ = InFlight::None;
        if (outcome % 8 < 4) {
          listing_.clear();
          const size_t count = (detail + 3u) % (kMaxMessages + 1);
          for (size_t i = 0; i < count; ++i) {
            listing_.push_back({uint64_t{detail} * 97 + i * 1000,
                                "uid-" + std::to_string(i) + "." + std::to_string(detail)});
          }
          deleted_.clear();
          server_.auth_succeeded(listing_);
          FUZZ_CHECK(server_.state() == State::Transaction && server_.listing().size() == count);
          model_ = ModelState::Transaction;
        } else {
          static constexpr ErrorKind kKinds[] = {ErrorKind::Auth, ErrorKind::Temporary, ErrorKind::InUse,
                                                 ErrorKind::LoginDelay};
          server_.auth_failed(kKinds[outcome % 4]);
          FUZZ_CHECK(server_.state() == State::Authorization);
        }
        return;
      case InFlight::Retrieve:
        if (outcome % 4 < 2) {
          const std::string status = server_.retrieve_started();
          FUZZ_CHECK(status ==
                     (retrieving_.top_lines
                          ? std::string("+OK\r\n")
                          : "+OK " + std::to_string(listing_[retrieving_.index].size) + " octets\r\n"));
          in_flight_ = InFlight::Streaming;
          if (outcome % 4 == 0) complete(0, detail);  // the whole body at once
        } else {
          in_flight_ = InFlight::None;
          server_.retrieve_failed(outcome % 4 == 2 ? ErrorKind::NotFound : ErrorKind::Temporary);
          FUZZ_CHECK(server_.state() == State::Transaction);
        }
        return;
      case InFlight::Streaming:
        if (outcome % 2 == 0) {
          in_flight_ = InFlight::None;
          server_.retrieve_finished();
          FUZZ_CHECK(server_.state() == State::Transaction);
        } else {
          server_.retrieve_failed(ErrorKind::Temporary);
          after_session_event();
        }
        return;
      case InFlight::Commit:
        if (outcome % 2 == 0) {
          server_.commit_succeeded();
        } else {
          server_.commit_failed(ErrorKind::Temporary);
        }
        in_flight_ = InFlight::None;
        FUZZ_CHECK(server_.state() == State::Closed);
        take_consumed();
        return;
      case InFlight::StartTls:
        in_flight_ = InFlight::None;
        server_.tls_started();
        FUZZ_CHECK(server_.tls_active());
        // RFC 2595 §4, CVE-2011-0411: what was pipelined in cleartext is dropped.
        FUZZ_CHECK(server_.buffered_input() == 0);
        buffered_.clear();
        return;
    }
  }

  // Completions of actions that are not in flight (late, after a timeout, or bogus) change nothing.
  void late_completions() {
    const State state = server_.state();
    const size_t buffered = server_.buffered_input();
    const size_t listed = server_.listing().size();
    const bool tls = server_.tls_active();
    auto unchanged = [&] {
      FUZZ_CHECK(server_.state() == state && server_.buffered_input() == buffered);
      FUZZ_CHECK(server_.listing().size() == listed && server_.tls_active() == tls);
    };
    if (in_flight_ != InFlight::Auth) {
      server_.auth_succeeded({{1, "late"}});
      server_.auth_failed(ErrorKind::Auth);
      unchanged();
    }
    if (in_flight_ != InFlight::Retrieve) FUZZ_CHECK(server_.retrieve_started().empty());
    if (in_flight_ != InFlight::Retrieve && in_flight_ != InFlight::Streaming) {
      server_.retrieve_finished();
      server_.retrieve_failed(ErrorKind::Temporary);
      unchanged();
    }
    if (in_flight_ != InFlight::Commit) {
      server_.commit_succeeded();
      server_.commit_failed(ErrorKind::Temporary);
      unchanged();
    }
    if (in_flight_ != InFlight::StartTls) {
      server_.tls_started();
      unchanged();
    }
  }

  FuzzedDataProvider& input_;
  const pop3::Options options_;
  pop3::Pop3Server server_;
  std::string backlog_;   // client bytes the server has not read yet (it stopped reading)
  std::string buffered_;  // the server's buffered input, as the model tracks it
  ModelState model_ = ModelState::Authorization;
  InFlight in_flight_ = InFlight::None;
  pop3::Retrieve retrieving_;
  std::vector<pop3::MessageListing> listing_;
  std::set<size_t> deleted_;  // DELEd and not RSET, 0-based
  std::string user_;          // from the last accepted USER
  std::string last_reply_;
  bool sasl_continuation_ = false;    // the last line got a "+ " challenge: the next is a SASL response
  bool expect_silent_close_ = false;  // closed mid-body: Close must come without a reply
};

}  // namespace
}  // namespace popgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  popgate::fuzz::Pop3Harness(input).run();
  return 0;
}
