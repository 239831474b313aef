// ImapMailbox against a ScriptedImapServer: login, snapshot, fetch, UPDATE, and upstream faults.
#include "adapters/imap/imap_mailbox.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/unit/adapters/imap/scripted_imap_server.h"

namespace popgate {
namespace {

using namespace std::chrono_literals;
using testing::ImapCommandLine;
using testing::ScriptedImapServer;
using testing::split_command;
using Commands = std::vector<std::string>;

constexpr std::string_view kCapabilities = "IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN UIDPLUS MOVE";
constexpr std::string_view kNoUidplus = "IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN MOVE";
// "pässwörd" in UTF-8: 10 octets.
const std::string kEightBitPassword = "p\xc3\xa4ssw\xc3\xb6rd";

std::string greeting_with(std::string_view capabilities) {
  return "* OK [CAPABILITY " + std::string(capabilities) + "] hi\r\n";
}

// `size` octets of CRLF lines that look like IMAP responses, to catch a parser that peeks into literals.
std::string make_body(size_t size) {
  std::string body;
  for (size_t line = 0; body.size() < size; ++line) {
    body += "line " + std::to_string(line) + " ) * OK [UIDVALIDITY 1] p9 OK {5}\r\n";
  }
  body.resize(size);
  return body;
}

// A well-behaved upstream holding one mailbox. `fault`, when it returns a reply, answers first.
struct UpstreamModel {
  std::string capabilities{kCapabilities};
  uint32_t uidvalidity = 7;
  std::map<uint32_t, std::string> bodies;  // by UID; map order is mailbox order
  std::string expected_login;              // when set, any other login line is refused
  std::function<std::optional<std::string>(const ImapCommandLine&)> fault;

  std::string answer(const std::string& line) const {
    ImapCommandLine command = split_command(line);
    if (fault) {
      if (std::optional<std::string> reply = fault(command)) return *reply;
    }
    if ((command.name == "AUTHENTICATE" || command.name == "LOGIN") && !expected_login.empty() &&
        line.substr(command.tag.size() + 1) != expected_login) {
      return command.tag + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n";
    }
    return respond(command);
  }

  // The healthy answer to `command`.
  std::string respond(const ImapCommandLine& command) const {
    const std::string ok = command.tag + " OK done\r\n";
    if (command.name == "AUTHENTICATE" || command.name == "LOGIN") {
      return command.tag + " OK [CAPABILITY " + capabilities + "] Logged in\r\n";
    }
    if (command.name == "CAPABILITY") return "* CAPABILITY " + capabilities + "\r\n" + ok;
    if (command.name == "SELECT") {
      return "* " + std::to_string(bodies.size()) + " EXISTS\r\n* OK [UIDVALIDITY " +
             std::to_string(uidvalidity) + "] UIDs valid\r\n" + command.tag +
             " OK [READ-WRITE] Select completed.\r\n";
    }
    if (command.name == "UID FETCH") return fetch(command.args) + ok;
    if (command.name == "UID SEARCH") return "* SEARCH\r\n" + ok;
    if (command.name == "LOGOUT") return "* BYE Logging out\r\n" + ok;
    return ok;
  }

  // "1:* (UID RFC822.SIZE)" lists the mailbox; "5 (BODY.PEEK[]<offset.length>)" and the like send a body.
  std::string fetch(const std::string& args) const {
    std::string out;
    if (args.starts_with("1:* ")) {
      uint64_t sequence = 0;
      for (const auto& [uid, body] : bodies) {
        out += "* " + std::to_string(++sequence) + " FETCH (UID " + std::to_string(uid) + " RFC822.SIZE " +
               std::to_string(body.size()) + ")\r\n";
      }
      return out;
    }
    auto found = bodies.find(static_cast<uint32_t>(std::stoul(args)));
    if (found == bodies.end()) return out;  // RFC 3501 §6.4.8: a UID that names nothing is no error
    std::string item = "BODY[]";
    std::string data = found->second;
    if (size_t open = args.find('<'); open != std::string::npos) {
      size_t offset = std::stoul(args.substr(open + 1));
      size_t length = std::stoul(args.substr(args.find('.', open) + 1));
      item += "<" + std::to_string(offset) + ">";
      data = offset < data.size() ? data.substr(offset, length) : "";
    }
    return "* " + std::to_string(std::distance(bodies.begin(), found) + 1) + " FETCH (UID " +
           std::to_string(found->first) + " " + item + " {" + std::to_string(data.size()) + "}\r\n" + data +
           " FLAGS (\\Seen))\r\n";
  }
};

// Records what the adapter streams; answers false once it holds `want` octets.
struct RecordingSink final : BodySink {
  void on_body_start() override { ++starts; }
  bool on_body_chunk(std::string_view chunk) override {
    if (starts == 0) chunk_before_start = true;
    body.append(chunk);
    return body.size() < want;
  }
  size_t want = SIZE_MAX;
  int starts = 0;
  bool chunk_before_start = false;
  std::string body;
};

// "ok", the error class ("temporary", "auth"...), or "no callback".
template <typename T>
std::string outcome(const std::optional<Result<T>>& result) {
  if (!result) return "no callback";
  return result->ok() ? "ok" : to_string(result->error().kind);
}

template <typename T>
std::string detail(const std::optional<Result<T>>& result) {
  return result && !result->ok() ? result->error().detail : "";
}

// A callback's outcome, shared so that a late call after the test gave up touches nothing dead.
template <typename T>
struct Completion {
  std::optional<Result<T>> result;
  int calls = 0;
};

class ImapMailboxTest : public ::testing::Test {
 protected:
  void serve(std::string greeting, ScriptedImapServer::Handler handler) {
    server_ = std::make_unique<ScriptedImapServer>(loop_, std::move(greeting), std::move(handler));
    settings_.host = "127.0.0.1";
    settings_.port = server_->port();
  }
  void serve_model(std::string_view capabilities = kCapabilities) {
    model_.capabilities = std::string(capabilities);
    serve(greeting_with(capabilities), [this](const std::string& line) { return model_.answer(line); });
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      loop_.run_nowait();
      std::this_thread::sleep_for(200us);
    }
    return done();
  }
  // Gives stray or repeated callbacks a chance to show.
  void settle() {
    run_until([] { return false; }, 20ms);
  }

  // Starts an operation and runs it to completion; its callback must run once, and not inside the call.
  template <typename T>
  std::optional<Result<T>> complete(const std::function<void(std::function<void(Result<T>)>)>& start) {
    auto completion = std::make_shared<Completion<T>>();
    start([completion](Result<T> result) {
      ++completion->calls;
      completion->result.emplace(std::move(result));
    });
    EXPECT_EQ(completion->calls, 0) << "the callback ran inside the call";
    run_until([&] { return completion->calls > 0; });
    settle();
    EXPECT_EQ(completion->calls, 1);
    return completion->result;
  }

  std::optional<Result<Snapshot>> open(const std::string& user = "alice",
                                       const std::string& password = "pw") {
    if (!mailbox_) mailbox_ = std::make_unique<ImapMailbox>(loop_, settings_);
    return complete<Snapshot>([&](auto done) {
      mailbox_->open(Credentials{"USER", user, SecretString(password)}, std::move(done));
    });
  }
  std::optional<Status> fetch(const std::string& uid, FetchKind kind, BodySink& sink) {
    return complete<Ok>([&](auto done) {
      mailbox_->fetch(MessageInfo{uid, 0, ""}, kind, sink, std::move(done));
    });
  }
  std::optional<Status> commit(const std::vector<std::string>& uids) {
    std::vector<MessageInfo> deleted;
    for (const auto& uid : uids) deleted.push_back(MessageInfo{uid, 0, ""});
    return complete<Ok>([&](auto done) { mailbox_->commit(std::move(deleted), std::move(done)); });
  }

  // The commands (without tags) the server received after the first `mark`, NOOPs left out:
  // the adapter may send one ahead of a command to learn of foreign expunges (RFC 2180 §4.1).
  Commands commands_since(size_t mark) const {
    Commands all = server_->untagged_commands();
    Commands since;
    for (size_t i = mark; i < all.size(); ++i) {
      if (all[i] != "NOOP") since.push_back(all[i]);
    }
    return since;
  }

  // Opens a mailbox holding UIDs 5 and 9 and returns how many commands that took.
  size_t open_five_and_nine(std::string_view capabilities = kCapabilities) {
    model_.bodies = {{5, make_body(500)}, {9, make_body(900)}};
    serve_model(capabilities);
    auto snapshot = open();
    EXPECT_EQ(outcome(snapshot), "ok") << detail(snapshot);
    return server_->commands().size();
  }

  io::Loop loop_;
  ImapSettings settings_;
  UpstreamModel model_;
  std::unique_ptr<ScriptedImapServer> server_;
  std::unique_ptr<ImapMailbox> mailbox_;
};

// ---------------------------------------------------------------- open

TEST_F(ImapMailboxTest, OpenLogsInWithSaslIrAndListsMessagesInUidOrder) {
  serve(greeting_with(kCapabilities), [](const std::string& line) -> std::string {
    ImapCommandLine command = split_command(line);
    if (command.name == "AUTHENTICATE") {
      return command.tag + " OK [CAPABILITY " + std::string(kCapabilities) + "] Logged in\r\n";
    }
    if (command.name == "SELECT")
      return "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n" + command.tag + " OK done\r\n";
    if (command.name == "UID FETCH") {
      return "* 3 FETCH (UID 9 RFC822.SIZE 900)\r\n* 1 FETCH (UID 5 RFC822.SIZE 500)\r\n"
             "* 2 FETCH (UID 7 RFC822.SIZE 700)\r\n" +
             command.tag + " OK done\r\n";
    }
    return command.tag + " OK done\r\n";
  });

  auto snapshot = open("alice", "pw");
  ASSERT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  // base64("\0alice\0pw") on the command line itself (SASL-IR).
  EXPECT_EQ(server_->untagged_commands(),
            (Commands{"AUTHENTICATE PLAIN AGFsaWNlAHB3", "SELECT INBOX", "UID FETCH 1:* (UID RFC822.SIZE)"}));
  const auto& messages = snapshot->value().messages;
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].upstream_id, "5");
  EXPECT_EQ(messages[0].size, 500u);
  EXPECT_EQ(messages[0].uidl, "0000000500000007");
  EXPECT_EQ(messages[1].upstream_id, "7");
  EXPECT_EQ(messages[1].size, 700u);
  EXPECT_EQ(messages[1].uidl, "0000000700000007");
  EXPECT_EQ(messages[2].upstream_id, "9");
  EXPECT_EQ(messages[2].size, 900u);
  EXPECT_EQ(messages[2].uidl, make_imap_uidl(9, 7));
  EXPECT_NE(snapshot->value().mailbox_key.find("/alice/"), std::string::npos)
      << snapshot->value().mailbox_key;
}

TEST_F(ImapMailboxTest, EmptyMailboxGivesAnEmptySnapshotWithoutListing) {
  serve_model();
  auto snapshot = open("Bob.Smith", "pw");
  ASSERT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  EXPECT_TRUE(snapshot->value().messages.empty());
  EXPECT_EQ(server_->count("UID FETCH"), 0u);
  const std::string& key = snapshot->value().mailbox_key;
  EXPECT_NE(key.find("/bob.smith/"), std::string::npos) << key;
  EXPECT_EQ(key.find("Bob"), std::string::npos) << key;
}

TEST_F(ImapMailboxTest, PreauthGreetingIsRefusedAsPermanent) {
  serve("* PREAUTH [CAPABILITY IMAP4rev1] welcome back\r\n",
        [](const std::string& line) { return split_command(line).tag + " OK done\r\n"; });
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "permanent") << detail(snapshot);
  EXPECT_TRUE(server_->commands().empty());
}

TEST_F(ImapMailboxTest, ByeGreetingIsTemporary) {
  serve("* BYE too many connections\r\n", [](const std::string&) { return std::string(); });
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "temporary") << detail(snapshot);
  EXPECT_TRUE(server_->commands().empty());
}

TEST_F(ImapMailboxTest, GarbageGreetingIsAProtocolError) {
  serve("HTTP/1.1 400 Bad\r\n", [](const std::string&) { return std::string(); });
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "protocol") << detail(snapshot);
  EXPECT_TRUE(server_->commands().empty());
}

// EXISTS comes from the peer: an absurd count must not become an allocation (a bad_alloc
// thrown out of a libuv callback would end the process and every session with it).
TEST_F(ImapMailboxTest, AbsurdExistsCountIsRefusedWithoutCrashing) {
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name == "SELECT") {
      return "* 1000000000000000 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n" + command.tag + " OK done\r\n";
    }
    if (command.name == "UID FETCH")
      return "* 1 FETCH (UID 5 RFC822.SIZE 10)\r\n" + command.tag + " OK done\r\n";
    return std::nullopt;
  };
  serve_model();
  auto snapshot = open();
  // Either answer is sound: the one message listed, or a refused listing.
  EXPECT_TRUE(outcome(snapshot) == "ok" || outcome(snapshot) == "protocol") << outcome(snapshot);
}

TEST_F(ImapMailboxTest, LoginQuotesAPasswordWithQuoteAndBackslash) {
  model_.expected_login = R"(LOGIN alice "pa\"ss\\word")";
  serve_model("IMAP4rev1");
  auto snapshot = open("alice", R"(pa"ss\word)");
  EXPECT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  EXPECT_EQ(server_->count("LOGIN"), 1u);
  EXPECT_EQ(server_->count("AUTHENTICATE"), 0u);
}

TEST_F(ImapMailboxTest, LoginSendsAnEightBitPasswordAsASynchronisingLiteral) {
  model_.expected_login = "LOGIN alice {10}\r\n" + kEightBitPassword;
  serve_model("IMAP4rev1");
  auto snapshot = open("alice", kEightBitPassword);
  EXPECT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  EXPECT_EQ(server_->count("LOGIN"), 1u);
  EXPECT_EQ(server_->early_literals(), 0) << "the literal went out before the server's \"+\"";
}

TEST_F(ImapMailboxTest, LoginUsesANonSynchronisingLiteralWithLiteralPlus) {
  model_.expected_login = "LOGIN alice {10+}\r\n" + kEightBitPassword;
  serve_model("IMAP4rev1 LITERAL+");
  auto snapshot = open("alice", kEightBitPassword);
  EXPECT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  EXPECT_EQ(server_->count("LOGIN"), 1u);
}

TEST_F(ImapMailboxTest, LoginAsksForCapabilitiesAndWaitsForTheSaslContinuation) {
  // No capabilities in the greeting nor in the login reply, and no SASL-IR.
  std::string authenticating;  // the tag of the AUTHENTICATE awaiting its response line
  serve("* OK hi\r\n", [&authenticating](const std::string& line) -> std::string {
    if (!authenticating.empty()) {
      std::string tag = std::exchange(authenticating, "");
      return tag + (line == "AGFsaWNlAHB3" ? " OK done\r\n" : " NO [AUTHENTICATIONFAILED] bad\r\n");
    }
    ImapCommandLine command = split_command(line);
    if (command.name == "CAPABILITY")
      return "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + command.tag + " OK done\r\n";
    if (command.name == "AUTHENTICATE") {
      authenticating = command.tag;
      return "+ \r\n";
    }
    if (command.name == "SELECT")
      return "* 0 EXISTS\r\n* OK [UIDVALIDITY 3] ok\r\n" + command.tag + " OK done\r\n";
    return command.tag + " OK done\r\n";
  });
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "ok") << detail(snapshot);
  ASSERT_EQ(server_->commands().size(), 5u);
  EXPECT_EQ(server_->commands()[2], "AGFsaWNlAHB3");  // RFC 3501 §6.2.2: the response on its own line
  Commands commands = server_->untagged_commands();
  commands.erase(commands.begin() + 2);
  EXPECT_EQ(commands, (Commands{"CAPABILITY", "AUTHENTICATE PLAIN", "CAPABILITY", "SELECT INBOX"}));
}

TEST_F(ImapMailboxTest, LoginRefusedAuthenticationFailedIsAuth) {
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "AUTHENTICATE") return std::nullopt;
    return command.tag + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n";
  };
  serve_model();
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "auth") << detail(snapshot);
  EXPECT_EQ(server_->count("SELECT"), 0u);
}

TEST_F(ImapMailboxTest, LoginRefusedUnavailableIsLoginDelay) {
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "AUTHENTICATE") return std::nullopt;
    return command.tag + " NO [UNAVAILABLE] Try again later.\r\n";
  };
  serve_model();
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "login_delay") << detail(snapshot);
}

TEST_F(ImapMailboxTest, LoginAnsweredBadIsAProtocolError) {
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "AUTHENTICATE") return std::nullopt;
    return command.tag + " BAD Invalid arguments.\r\n";
  };
  serve_model();
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "protocol") << detail(snapshot);
}

TEST_F(ImapMailboxTest, SelectOfANonexistentMailboxIsPermanent) {
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "SELECT") return std::nullopt;
    return command.tag + " NO [NONEXISTENT] Mailbox doesn't exist: INBOX\r\n";
  };
  serve_model();
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "permanent") << detail(snapshot);
  EXPECT_EQ(server_->count("UID FETCH"), 0u);
}

TEST_F(ImapMailboxTest, SilentUpstreamTimesOut) {
  settings_.policy.timeout_ms = 200;
  serve(greeting_with(kCapabilities), [](const std::string&) { return std::string(); });
  const auto start = std::chrono::steady_clock::now();
  auto snapshot = open();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(outcome(snapshot), "temporary") << detail(snapshot);
  EXPECT_NE(detail(snapshot).find("did not answer"), std::string::npos) << detail(snapshot);
  EXPECT_EQ(server_->count("AUTHENTICATE"), 1u);
  EXPECT_GE(elapsed, 150ms);
  EXPECT_TRUE(run_until([&] { return server_->peer_closed(); })) << "the timed-out connection stays open";
}

TEST_F(ImapMailboxTest, MalformedListingIsAProtocolError) {
  model_.bodies = {{5, make_body(10)}};
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID FETCH") return std::nullopt;
    return "* 1 FETCH (UID 5 RFC822.SIZE\r\n" + command.tag + " OK done\r\n";
  };
  serve_model();
  auto snapshot = open();
  EXPECT_EQ(outcome(snapshot), "protocol") << detail(snapshot);
}

// ---------------------------------------------------------------- fetch

TEST_F(ImapMailboxTest, FetchWholeStreamsTheLiteralIntoTheSink) {
  model_.bodies = {{5, make_body(6000)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");

  RecordingSink sink;
  auto status = fetch("5", FetchKind::Whole, sink);
  ASSERT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(sink.starts, 1);
  EXPECT_FALSE(sink.chunk_before_start);
  EXPECT_EQ(sink.body, model_.bodies[5]);
  EXPECT_EQ(server_->untagged_commands().back(), "UID FETCH 5 (BODY.PEEK[])");
}

TEST_F(ImapMailboxTest, FetchWholeWithMarkSeenUsesBodyAndStreamsALargeMessage) {
  settings_.policy.mark_seen = true;
  model_.bodies = {{5, make_body(300'000)}};  // several reads of the 64 KiB loop buffer
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");

  RecordingSink sink;
  auto status = fetch("5", FetchKind::Whole, sink);
  ASSERT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(sink.starts, 1);
  EXPECT_EQ(sink.body.size(), 300'000u);
  EXPECT_TRUE(sink.body == model_.bodies[5]);
  EXPECT_EQ(server_->untagged_commands().back(), "UID FETCH 5 (BODY[])");
}

TEST_F(ImapMailboxTest, FetchOfAnExpungedMessageIsNotFound) {
  model_.bodies = {{5, make_body(100)}, {6, make_body(200)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");
  model_.bodies.erase(6);  // another client expunged it after the snapshot

  RecordingSink gone;
  auto status = fetch("6", FetchKind::Whole, gone);
  EXPECT_EQ(outcome(status), "not_found") << detail(status);
  EXPECT_EQ(gone.starts, 0);

  RecordingSink sink;
  status = fetch("5", FetchKind::Whole, sink);
  EXPECT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(sink.body, model_.bodies[5]);
}

TEST_F(ImapMailboxTest, FetchAnsweredWithANilBodyIsNotFound) {
  model_.bodies = {{5, make_body(100)}, {6, make_body(200)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");
  // RFC 2180 §4.1.3: a server may answer for a message expunged under its stale view with NIL.
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID FETCH" || !command.args.starts_with("6 ")) return std::nullopt;
    return "* 2 FETCH (UID 6 BODY[] NIL)\r\n" + command.tag + " OK done\r\n";
  };

  RecordingSink sink;
  auto status = fetch("6", FetchKind::Whole, sink);
  EXPECT_EQ(outcome(status), "not_found") << detail(status);
  EXPECT_EQ(sink.starts, 0);
}

TEST_F(ImapMailboxTest, TopFetchesSuccessiveChunksWhileTheSinkWantsMore) {
  constexpr uint64_t kChunk = ImapMailbox::kTopChunk;
  model_.bodies = {{5, make_body(2 * kChunk + 100)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");
  const size_t mark = server_->commands().size();

  RecordingSink sink;
  auto status = fetch("5", FetchKind::HeadFirst, sink);
  ASSERT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark),
            (Commands{"UID FETCH 5 (BODY.PEEK[]<0.65536>)", "UID FETCH 5 (BODY.PEEK[]<65536.65536>)",
                      "UID FETCH 5 (BODY.PEEK[]<131072.65536>)"}));
  EXPECT_EQ(sink.starts, 1);
  EXPECT_TRUE(sink.body == model_.bodies[5]);
}

TEST_F(ImapMailboxTest, TopStopsAskingOnceTheSinkIsSatisfied) {
  constexpr uint64_t kChunk = ImapMailbox::kTopChunk;
  model_.bodies = {{5, make_body(4 * kChunk)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");
  const size_t mark = server_->commands().size();

  RecordingSink sink;
  sink.want = kChunk + 1;  // the whole first chunk, then a little of the second
  auto status = fetch("5", FetchKind::HeadFirst, sink);
  ASSERT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark),
            (Commands{"UID FETCH 5 (BODY.PEEK[]<0.65536>)", "UID FETCH 5 (BODY.PEEK[]<65536.65536>)"}));
  EXPECT_GT(sink.body.size(), kChunk);
  EXPECT_TRUE(model_.bodies[5].starts_with(sink.body));
}

TEST_F(ImapMailboxTest, TopOfAShortMessageIsOneCommand) {
  model_.bodies = {{5, make_body(1000)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");
  const size_t mark = server_->commands().size();

  RecordingSink sink;
  auto status = fetch("5", FetchKind::HeadFirst, sink);
  ASSERT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark), (Commands{"UID FETCH 5 (BODY.PEEK[]<0.65536>)"}));
  EXPECT_EQ(sink.body, model_.bodies[5]);
}

TEST_F(ImapMailboxTest, ConnectionDroppedMidLiteralFailsTheFetchAndEverythingAfter) {
  model_.bodies = {{5, make_body(5000)}};
  model_.fault = [this](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID FETCH" || !command.args.starts_with("5 ")) return std::nullopt;
    server_->close_after_reply();
    return "* 1 FETCH (UID 5 BODY[] {5000}\r\n" + model_.bodies.at(5).substr(0, 1000);
  };
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");

  RecordingSink sink;
  auto status = fetch("5", FetchKind::Whole, sink);
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(sink.starts, 1);
  EXPECT_EQ(sink.body, model_.bodies[5].substr(0, 1000));

  RecordingSink later;
  status = fetch("5", FetchKind::Whole, later);
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(later.starts, 0);
  status = commit({"5"});
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(server_->count("UID STORE"), 0u);
}

TEST_F(ImapMailboxTest, MalformedResponseMidSessionIsAProtocolError) {
  model_.bodies = {{5, make_body(100)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID FETCH") return std::nullopt;
    return "* 1 FETCH (UID 5 RFC822.SIZE\r\n" + command.tag + " OK done\r\n";
  };

  RecordingSink sink;
  auto status = fetch("5", FetchKind::Whole, sink);
  EXPECT_EQ(outcome(status), "protocol") << detail(status);
  EXPECT_EQ(sink.starts, 0);
  // Nothing more from this peer is trusted.
  status = fetch("5", FetchKind::Whole, sink);
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_TRUE(run_until([&] { return server_->peer_closed(); }));
}

// ---------------------------------------------------------------- commit

TEST_F(ImapMailboxTest, CommitExpungesExactlyTheDeletedUidsWithUidplus) {
  const size_t mark = open_five_and_nine();
  auto status = commit({"9", "5"});
  ASSERT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark), (Commands{"UID STORE 5,9 +FLAGS.SILENT (\\Deleted)", "UID EXPUNGE 5,9"}));
}

TEST_F(ImapMailboxTest, CommitWithoutUidplusExpungesWhenOnlyOurMessagesAreDeleted) {
  const size_t mark = open_five_and_nine(kNoUidplus);
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID SEARCH") return std::nullopt;
    return "* SEARCH 5 9\r\n" + command.tag + " OK done\r\n";
  };
  auto status = commit({"5", "9"});
  ASSERT_EQ(outcome(status), "ok") << detail(status);
  // Looked before marking, and again before the EXPUNGE.
  EXPECT_EQ(commands_since(mark), (Commands{"UID SEARCH DELETED", "UID STORE 5,9 +FLAGS.SILENT (\\Deleted)",
                                            "UID SEARCH DELETED", "EXPUNGE"}));
}

TEST_F(ImapMailboxTest, CommitWithoutUidplusRefusesToExpungeAForeignDeletedMessage) {
  const size_t mark = open_five_and_nine(kNoUidplus);
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID SEARCH") return std::nullopt;
    return "* SEARCH 5 6 9\r\n" + command.tag + " OK done\r\n";  // 6 was flagged by another client
  };
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(server_->count("EXPUNGE"), 0u);
  // Nothing was even marked: the client's messages stay exactly as they were.
  EXPECT_EQ(commands_since(mark), (Commands{"UID SEARCH DELETED"}));
}

TEST_F(ImapMailboxTest, CommitWithoutUidplusStopsWhenAForeignDeletionAppearsAfterMarking) {
  const size_t mark = open_five_and_nine(kNoUidplus);
  auto searches = std::make_shared<int>(0);
  model_.fault = [searches](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID SEARCH") return std::nullopt;
    // Clean at first; by the second look another client has flagged message 6.
    return std::string(++*searches == 1 ? "* SEARCH\r\n" : "* SEARCH 5 6 9\r\n") + command.tag +
           " OK done\r\n";
  };
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(server_->count("EXPUNGE"), 0u);
  EXPECT_EQ(commands_since(mark), (Commands{"UID SEARCH DELETED", "UID STORE 5,9 +FLAGS.SILENT (\\Deleted)",
                                            "UID SEARCH DELETED"}));
}

TEST_F(ImapMailboxTest, CommitWhoseStoreIsRefusedExpungesNothing) {
  open_five_and_nine();
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID STORE") return std::nullopt;
    return command.tag + " NO [SERVERBUG] Internal error\r\n";
  };
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(server_->count("UID EXPUNGE"), 0u);
  EXPECT_EQ(server_->count("EXPUNGE"), 0u);
}

TEST_F(ImapMailboxTest, CommitAfterAUidvalidityChangeDeletesNothing) {
  const size_t mark = open_five_and_nine();
  model_.fault = [this](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID FETCH") return std::nullopt;
    return "* OK [UIDVALIDITY 8] UIDs reset\r\n" + model_.respond(command);
  };
  RecordingSink sink;
  auto status = fetch("5", FetchKind::Whole, sink);
  ASSERT_EQ(outcome(status), "ok") << detail(status);

  status = commit({"5"});
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(commands_since(mark), (Commands{"UID FETCH 5 (BODY.PEEK[])"}));
}

TEST_F(ImapMailboxTest, CommitKeepWithoutMarkSeenSendsNothing) {
  settings_.policy.delete_mode = DeleteMode::Keep;
  const size_t mark = open_five_and_nine();
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark), Commands{});
}

TEST_F(ImapMailboxTest, CommitKeepWithMarkSeenFlagsSeen) {
  settings_.policy.delete_mode = DeleteMode::Keep;
  settings_.policy.mark_seen = true;
  const size_t mark = open_five_and_nine();
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark), (Commands{"UID STORE 5,9 +FLAGS.SILENT (\\Seen)"}));
}

TEST_F(ImapMailboxTest, CommitMoveUsesUidMoveWhenOffered) {
  settings_.policy.delete_mode = DeleteMode::Move;
  settings_.policy.move_target = "Trash";
  const size_t mark = open_five_and_nine();
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark), (Commands{"UID MOVE 5,9 Trash"}));
}

TEST_F(ImapMailboxTest, CommitMoveWithoutMoveCopiesThenDeletes) {
  settings_.policy.delete_mode = DeleteMode::Move;
  settings_.policy.move_target = "Trash";
  const size_t mark = open_five_and_nine("IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN UIDPLUS");
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "ok") << detail(status);
  EXPECT_EQ(commands_since(mark),
            (Commands{"UID COPY 5,9 Trash", "UID STORE 5,9 +FLAGS.SILENT (\\Deleted)", "UID EXPUNGE 5,9"}));
}

TEST_F(ImapMailboxTest, CommitMoveWhoseCopyFailsKeepsTheOriginals) {
  settings_.policy.delete_mode = DeleteMode::Move;
  settings_.policy.move_target = "Trash";
  open_five_and_nine("IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN UIDPLUS");
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name != "UID COPY") return std::nullopt;
    return command.tag + " NO [OVERQUOTA] Quota exceeded\r\n";
  };
  auto status = commit({"5", "9"});
  EXPECT_EQ(outcome(status), "temporary") << detail(status);
  EXPECT_EQ(server_->count("UID STORE"), 0u);
  EXPECT_EQ(server_->count("UID EXPUNGE"), 0u);
}

// ---------------------------------------------------------------- destruction

TEST_F(ImapMailboxTest, DestroyedWhileConnectingRunsNoCallback) {
  serve_model();
  mailbox_ = std::make_unique<ImapMailbox>(loop_, settings_);
  auto calls = std::make_shared<int>(0);
  mailbox_->open(Credentials{"USER", "alice", SecretString("pw")}, [calls](Result<Snapshot>) { ++*calls; });
  mailbox_.reset();
  run_until([] { return false; }, 100ms);
  EXPECT_EQ(*calls, 0);
  EXPECT_EQ(server_->count("AUTHENTICATE"), 0u);
}

TEST_F(ImapMailboxTest, DestroyedDuringLoginRunsNoCallbackAndLogsOut) {
  serve(greeting_with(kCapabilities), [](const std::string&) { return std::string(); });
  mailbox_ = std::make_unique<ImapMailbox>(loop_, settings_);
  auto calls = std::make_shared<int>(0);
  mailbox_->open(Credentials{"USER", "alice", SecretString("pw")}, [calls](Result<Snapshot>) { ++*calls; });
  ASSERT_TRUE(run_until([&] { return server_->count("AUTHENTICATE") == 1; }));

  mailbox_.reset();
  EXPECT_TRUE(run_until([&] { return server_->count("LOGOUT") == 1 || server_->peer_closed(); }));
  settle();
  EXPECT_EQ(*calls, 0);
}

TEST_F(ImapMailboxTest, DestroyedDuringFetchRunsNoCallbackAndLogsOut) {
  model_.bodies = {{5, make_body(100)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");
  model_.fault = [](const ImapCommandLine& command) -> std::optional<std::string> {
    if (command.name == "UID FETCH") return "";  // never answers
    return std::nullopt;
  };

  RecordingSink sink;
  auto calls = std::make_shared<int>(0);
  mailbox_->fetch(MessageInfo{"5", 100, ""}, FetchKind::Whole, sink, [calls](Status) { ++*calls; });
  ASSERT_TRUE(run_until([&] { return server_->count("UID FETCH") == 2; }));

  mailbox_.reset();
  EXPECT_TRUE(run_until([&] { return server_->count("LOGOUT") == 1 || server_->peer_closed(); }));
  settle();
  EXPECT_EQ(*calls, 0);
  EXPECT_EQ(sink.starts, 0);
}

TEST_F(ImapMailboxTest, DestroyedInsideItsOwnFetchCallback) {
  model_.bodies = {{5, make_body(100)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");

  RecordingSink sink;
  auto calls = std::make_shared<int>(0);
  mailbox_->fetch(MessageInfo{"5", 100, ""}, FetchKind::Whole, sink, [this, calls](Status status) {
    ++*calls;
    EXPECT_TRUE(status.ok());
    mailbox_.reset();
  });
  ASSERT_TRUE(run_until([&] { return *calls > 0; }));
  EXPECT_TRUE(run_until([&] { return server_->count("LOGOUT") == 1 || server_->peer_closed(); }));
  settle();
  EXPECT_EQ(*calls, 1);
  EXPECT_EQ(sink.body, model_.bodies[5]);
}

// A sink may destroy the mailbox from inside on_body_chunk(): nothing may be touched afterwards
// (valgrind once reported an invalid write here).
TEST_F(ImapMailboxTest, DestroyedInsideTheSinksChunkCallback) {
  model_.bodies = {{5, make_body(100)}};
  serve_model();
  ASSERT_EQ(outcome(open()), "ok");

  struct DestroyingSink final : BodySink {
    void on_body_start() override {}
    bool on_body_chunk(std::string_view) override {
      destroy();
      return true;
    }
    std::function<void()> destroy;
  } sink;
  sink.destroy = [this] { mailbox_.reset(); };
  auto calls = std::make_shared<int>(0);
  mailbox_->fetch(MessageInfo{"5", 100, ""}, FetchKind::Whole, sink, [calls](Status) { ++*calls; });
  ASSERT_TRUE(run_until([&] { return !mailbox_; }));
  EXPECT_TRUE(run_until([&] { return server_->count("LOGOUT") == 1 || server_->peer_closed(); }));
  settle();
  EXPECT_EQ(*calls, 0);
}

}  // namespace
}  // namespace popgate
