// RedisConnection: one connection to a Redis server (or what speaks its protocol: Valkey, KeyDB,
// managed Redis services) on the loop, over popgate's own TCP or TLS transport.
//
// Commands are pipelined: each is written as soon as the connection is up and answered in order
// by hiredis's reply reader (redis_reply_reader.h). Login (AUTH, SELECT) happens on every new
// connection before any command goes out. A broken connection is opened again at once, then with
// a growing backoff while it keeps failing; meanwhile commands fail fast instead of queueing, so
// a store that is gone costs a login nothing, and a stalled one costs it at most the command
// timeout.
//
// With sentinels (redis-sentinel://) every connection first asks them where the master is, then
// checks with ROLE that the server it reached is a master; a second connection, to one sentinel,
// hears of failovers (+switch-master) and drops the link so that the next one finds the new master.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/io/loop.h"
#include "gateway/io/redis_command.h"
#include "gateway/io/redis_reply.h"
#include "gateway/io/redis_reply_reader.h"
#include "gateway/io/socket_address.h"
#include "gateway/io/tls_context.h"
#include "protocol/common/result.h"
#include "protocol/common/secret.h"

namespace popgate::io {

struct RedisEndpoint {
  std::string host;
  uint16_t port = 6379;
  bool tls = false;       // then `host` is the SNI and the name the certificate must carry
  unsigned database = 0;  // SELECT, when not 0
  std::string user;       // a Redis 6 ACL user; empty: AUTH with the password alone (requirepass)
  SecretString password;  // empty: no AUTH
  // Not empty: `host` and `port` are ignored; before every connection these sentinels (plain TCP,
  // no AUTH) are asked, in order, where the master `master_name` is. Never with `tls`.
  std::vector<HostPort> sentinels;
  std::string master_name;
};

struct RedisOptions {
  uint64_t connect_timeout_ms = 2'000;  // TCP, TLS and the login together
  uint64_t command_timeout_ms = 1'000;  // from command() to its reply
  uint64_t reconnect_backoff_min_ms = 100;
  uint64_t reconnect_backoff_max_ms = 5'000;
  size_t max_pending_commands = 10'000;  // sent or waiting for the connection; more fail at once
  RedisReplyLimits reply_limits;
};

class RedisConnection {
 public:
  // A Redis error reply (-ERR, -NOSCRIPT) is a reply, not an Error: the caller knows what it means.
  // Errors are Temporary ("... timed out", "the state store is unreachable: ...") or Protocol.
  using Done = std::function<void(Result<RedisReply>)>;
  // Up, or down with the reason: on each change, and on the first failure to connect.
  using StateListener = std::function<void(bool up, const std::string& reason)>;

  // `tls_context` is required when endpoint.tls. Connects at once.
  RedisConnection(Loop& loop, RedisEndpoint endpoint, std::shared_ptr<TlsClientContext> tls_context,
                  RedisOptions options = {});
  // Cancels everything: no callback runs afterwards.
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // One command. `done` runs once, later, never inside the call.
  void command(std::vector<std::string> args, Done done);
  // A script by SHA (EVALSHA), sent again as EVAL after NOSCRIPT (a restarted or flushed server).
  void eval(const RedisScript& script, std::vector<std::string> keys, std::vector<std::string> args,
            Done done);

  void set_state_listener(StateListener listener);
  bool up() const;
  // Why it is not up ("connection refused", "the store refused the login: WRONGPASS ..."); empty when up.
  const std::string& down_reason() const;
  const RedisEndpoint& endpoint() const;
  // The server of the latest link ("10.0.0.7:6379"): with sentinels, the master they named; empty
  // before the first. The listener hears "up" again when a new link is up at another server.
  std::string server() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

using RedisConnectionPtr = std::unique_ptr<RedisConnection>;

}  // namespace popgate::io
