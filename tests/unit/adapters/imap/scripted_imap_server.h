// ScriptedImapServer: a fake IMAP upstream on 127.0.0.1 port 0 for the faults and edge cases a real
// server (Dovecot, tested in tests/integration/) cannot produce on demand.
//
// It runs on the test's own io::Loop, sends a scripted greeting on connect, frames each command
// (answering "+" to synchronising literals, swallowing LITERAL+ ones) and hands it whole to a
// test-supplied handler whose return value is written back verbatim.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/io/loop.h"
#include "gateway/io/tcp_listener.h"
#include "gateway/io/transport.h"

namespace popgate::testing {

// One command as the server framed it, split for matching: "p3 UID FETCH 5 (BODY[])" is
// {tag "p3", name "UID FETCH", args "5 (BODY[])"}. The name is upper-cased.
struct ImapCommandLine {
  std::string tag;
  std::string name;
  std::string args;
};
ImapCommandLine split_command(const std::string& line);

class ScriptedImapServer final : public io::TransportHandler {
 public:
  // Gets one whole command without its final CRLF (literals included as sent, "{n}\r\n" and
  // all); returns the bytes to send back, possibly none.
  using Handler = std::function<std::string(const std::string& command_line)>;

  // An empty greeting means a server that accepts and stays silent.
  ScriptedImapServer(io::Loop& loop, std::string greeting, Handler handler);
  ~ScriptedImapServer() override;
  ScriptedImapServer(const ScriptedImapServer&) = delete;
  ScriptedImapServer& operator=(const ScriptedImapServer&) = delete;

  uint16_t port() const { return port_; }

  // For the handler: after its reply is flushed, close the connection (FIN).
  void close_after_reply() { close_after_reply_ = true; }
  // Sends bytes outside any command (unsolicited responses).
  void send(std::string_view bytes);

  // Every command received, in order, as the handler saw it.
  const std::vector<std::string>& commands() const { return commands_; }
  // The same without tags: "UID EXPUNGE 5,9".
  std::vector<std::string> untagged_commands() const;
  // How many commands had this (upper-case) name, e.g. "EXPUNGE" or "UID STORE".
  size_t count(std::string_view name) const;

  int connections() const { return connections_; }
  // The client closed or reset its side of the current connection.
  bool peer_closed() const { return peer_closed_; }
  // Synchronising literals whose bytes came before the "+" they must wait for.
  int early_literals() const { return early_literals_; }

  // TransportHandler
  void on_data(std::string_view data) override;
  void on_end(const io::StreamEnd& end) override;

 private:
  void on_accept(io::TransportPtr transport);
  // Frames the buffered input into commands; false once the connection is gone.
  bool take_command();
  void dispatch();
  void close();

  std::string greeting_;
  Handler handler_;
  std::unique_ptr<io::TcpListener> listener_;
  uint16_t port_ = 0;
  io::TransportPtr transport_;
  std::string input_;          // received, not framed yet
  std::string command_;        // the command so far: lines and literals
  uint64_t literal_left_ = 0;  // octets of a literal still to come
  bool close_after_reply_ = false;
  bool peer_closed_ = false;
  int connections_ = 0;
  int early_literals_ = 0;
  std::vector<std::string> commands_;
};

}  // namespace popgate::testing
