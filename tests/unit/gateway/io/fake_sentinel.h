// FakeSentinel: a scripted Redis Sentinel on 127.0.0.1 port 0, in the test's own loop. It names
// whatever master the test says (or none), confirms SUBSCRIBE +switch-master, and publishes a
// switch when told: the events a real sentinel only gives after a failover, on cue.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/io/loop.h"
#include "gateway/io/redis_command.h"
#include "gateway/io/redis_reply_reader.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/tcp_listener.h"
#include "gateway/io/transport.h"
#include "tests/unit/gateway/io/io_test_support.h"

namespace popgate::testing {

class FakeSentinel {
 public:
  explicit FakeSentinel(io::Loop& loop) {
    listener_ = io::testing::listen_on(loop, io::testing::loopback_address(),
                                       [this](io::TransportPtr accepted) { accept(std::move(accepted)); });
  }

  io::HostPort address() const { return {"127.0.0.1", listener_->local_address().port()}; }

  // What get-master-addr-by-name answers for `name`; nullopt: nil, the name is unknown.
  std::string name = "popgate";
  std::optional<io::HostPort> master;
  // Not empty: every command is answered with this error instead ("-NOAUTH ...").
  std::string error;
  // Accepts, reads and never answers.
  bool silent = false;

  int queries = 0;  // get-master-addr-by-name asked
  int pings = 0;
  int subscribed() const {
    int count = 0;
    for (const auto& peer : peers_) count += peer->subscribed && !peer->closed ? 1 : 0;
    return count;
  }

  // "+switch-master NAME OLD-IP OLD-PORT NEW-IP NEW-PORT" to every subscriber; `master` moves.
  void switch_master(const std::string& about, const io::HostPort& to) {
    const io::HostPort from = master.value_or(io::HostPort{"0.0.0.0", 1});
    if (about == name) master = to;
    const std::string payload = about + " " + from.host + " " + std::to_string(from.port) + " " + to.host +
                                " " + std::to_string(to.port);
    for (const auto& peer : peers_) {
      if (peer->subscribed && !peer->closed) peer->transport->write(message(payload));
    }
  }

  // Closes every connection: a sentinel restarted. Not from inside a callback of this.
  void drop_connections() { peers_.clear(); }

 private:
  struct Peer final : io::TransportHandler {
    void on_data(std::string_view data) override {
      reader.feed(data);
      while (std::optional<io::RedisReply> command = reader.next()) owner->answer(*this, *command);
    }
    void on_end(const io::StreamEnd&) override { closed = true; }
    FakeSentinel* owner = nullptr;
    io::TransportPtr transport;
    io::RedisReplyReader reader;  // a command is a RESP array, as a reply is
    bool subscribed = false;
    bool closed = false;
  };

  static std::string bulk(const std::string& text) {
    return "$" + std::to_string(text.size()) + "\r\n" + text + "\r\n";
  }
  static std::string message(const std::string& payload) {
    return "*3\r\n" + bulk("message") + bulk("+switch-master") + bulk(payload);
  }

  void accept(io::TransportPtr accepted) {
    auto peer = std::make_unique<Peer>();
    peer->owner = this;
    peer->transport = std::move(accepted);
    peer->transport->set_handler(peer.get());
    peer->transport->start_reading();
    peers_.push_back(std::move(peer));
  }

  void answer(Peer& peer, const io::RedisReply& command) {
    if (silent || peer.closed) return;
    std::vector<std::string> args;
    for (const io::RedisReply& arg : command.elements) args.push_back(arg.text);
    if (!error.empty()) return peer.transport->write("-" + error + "\r\n");
    if (args.size() == 3 && args[0] == "SENTINEL" && args[1] == "get-master-addr-by-name") {
      ++queries;
      if (args[2] != name || !master) return peer.transport->write("*-1\r\n");
      return peer.transport->write("*2\r\n" + bulk(master->host) + bulk(std::to_string(master->port)));
    }
    if (args.size() == 2 && args[0] == "SUBSCRIBE") {
      peer.subscribed = true;
      return peer.transport->write("*3\r\n" + bulk("subscribe") + bulk(args[1]) + ":1\r\n");
    }
    if (args.size() == 1 && args[0] == "PING") {
      ++pings;
      // A subscribed connection answers in pub/sub form.
      return peer.transport->write(peer.subscribed ? "*2\r\n" + bulk("pong") + bulk("") : "+PONG\r\n");
    }
    peer.transport->write("-ERR unknown command\r\n");
  }

  std::unique_ptr<io::TcpListener> listener_;
  std::vector<std::unique_ptr<Peer>> peers_;
};

}  // namespace popgate::testing
