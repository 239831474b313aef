// What Redis Sentinel's replies mean, as pure functions over RedisReply: the master's address
// (SENTINEL get-master-addr-by-name), a server's role (ROLE), and the +switch-master event.
//
// The client side of https://redis.io/docs/latest/develop/reference/sentinel-clients/: ask a
// sentinel where the master is, check with ROLE that it is one, and hear of failovers by pub/sub.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gateway/io/redis_reply.h"
#include "gateway/io/socket_address.h"
#include "protocol/common/result.h"

namespace popgate::io {

// SENTINEL get-master-addr-by-name NAME: [host, port], or nil when the sentinel does not know the
// name (nullopt). An error reply ("-NOAUTH ...") is ErrorKind::Temporary with its text; anything
// else is ErrorKind::Protocol.
Result<std::optional<HostPort>> parse_master_address(const RedisReply& reply);

// ROLE: its first element, "master", "slave" or "sentinel". ErrorKind::Protocol if it is not there.
Result<std::string> parse_role(const RedisReply& reply);

// A pub/sub reply on the sentinel: the confirmation of SUBSCRIBE +switch-master.
bool is_switch_master_subscription(const RedisReply& reply);

// A pub/sub reply on the sentinel: a +switch-master message ("NAME OLD-IP OLD-PORT NEW-IP
// NEW-PORT") about `master_name` gives the new master's address; any other reply, nullopt.
std::optional<HostPort> parse_switch_master(const RedisReply& reply, std::string_view master_name);

}  // namespace popgate::io
