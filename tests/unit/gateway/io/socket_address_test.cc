// parse_host_port and SocketAddress: accepted and rejected forms, formatting, loopback.
#include "gateway/io/socket_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace popgate::io {
namespace {

struct ValidCase {
  const char* text;
  const char* host;
  uint16_t port;
};

TEST(ParseHostPort, AcceptsHostsAddressesAndBracketedIpv6) {
  const ValidCase cases[] = {
      {"127.0.0.1:110", "127.0.0.1", 110},
      {"[::1]:110", "::1", 110},
      {"mail.example.com:993", "mail.example.com", 993},
      {"localhost:0", "localhost", 0},
      {"h:65535", "h", 65535},
      {"[2001:db8::1]:143", "2001:db8::1", 143},
      {"[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", 1},
      {"0.0.0.0:00110", "0.0.0.0", 110},
  };
  for (const ValidCase& c : cases) {
    std::optional<HostPort> parsed = parse_host_port(c.text);
    ASSERT_TRUE(parsed.has_value()) << c.text;
    EXPECT_EQ(parsed->host, c.host) << c.text;
    EXPECT_EQ(parsed->port, c.port) << c.text;
  }
}

TEST(ParseHostPort, RejectsMissingOrInvalidPortsAndHosts) {
  const char* cases[] = {
      "",         "127.0.0.1", "127.0.0.1:",      ":110",       "[::1]",       "[::1]110",
      "[::1]:",   "::1:110",   "host:65536",      "host:99999", "host:123456", "host:-1",
      "host:+1",  "host: 1",   "host:1 ",         "host:1a",    "host:0x10",   "[]:110",
      "[::1:110", "ho st:110", "[127.0.0.1]:110", "host:110:",  "host\t:110",  "host/x:110",
  };
  for (const char* c : cases) EXPECT_FALSE(parse_host_port(c).has_value()) << '"' << c << '"';
}

TEST(ParseHostPort, FormatsBackWhatItParses) {
  for (const char* text : {"127.0.0.1:110", "[::1]:6379", "redis-0.internal:26379"}) {
    std::optional<HostPort> parsed = parse_host_port(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(to_string(*parsed), text);
  }
}

TEST(SocketAddress, FromNumericAcceptsOnlyNumericAddresses) {
  EXPECT_TRUE(SocketAddress::from_numeric({"127.0.0.1", 110}).has_value());
  EXPECT_TRUE(SocketAddress::from_numeric({"::1", 110}).has_value());
  EXPECT_TRUE(SocketAddress::from_numeric({"0.0.0.0", 0}).has_value());
  EXPECT_TRUE(SocketAddress::from_numeric({"::", 0}).has_value());
  EXPECT_FALSE(SocketAddress::from_numeric({"localhost", 110}).has_value());
  EXPECT_FALSE(SocketAddress::from_numeric({"mail.example", 110}).has_value());
  EXPECT_FALSE(SocketAddress::from_numeric({"256.1.1.1", 110}).has_value());
  EXPECT_FALSE(SocketAddress::from_numeric({"1.2.3", 110}).has_value());
  EXPECT_FALSE(SocketAddress::from_numeric({"", 110}).has_value());
}

TEST(SocketAddress, FormatsHostPortAndFamily) {
  SocketAddress v4 = *SocketAddress::from_numeric({"127.0.0.1", 110});
  EXPECT_EQ(v4.host(), "127.0.0.1");
  EXPECT_EQ(v4.port(), 110);
  EXPECT_EQ(v4.to_string(), "127.0.0.1:110");
  EXPECT_EQ(v4.get()->sa_family, AF_INET);

  SocketAddress v6 = *SocketAddress::from_numeric({"2001:db8::1", 995});
  EXPECT_EQ(v6.host(), "2001:db8::1");
  EXPECT_EQ(v6.port(), 995);
  EXPECT_EQ(v6.to_string(), "[2001:db8::1]:995");
  EXPECT_EQ(v6.get()->sa_family, AF_INET6);

  SocketAddress copy = SocketAddress::from_sockaddr(v6.get());
  EXPECT_EQ(copy.to_string(), "[2001:db8::1]:995");
  EXPECT_EQ(SocketAddress{}.port(), 0);
}

TEST(SocketAddress, IsLoopback) {
  const std::pair<const char*, bool> cases[] = {
      {"127.0.0.1", true},
      {"127.255.255.254", true},
      {"127.1.2.3", true},
      {"126.255.255.255", false},
      {"128.0.0.1", false},
      {"10.0.0.1", false},
      {"0.0.0.0", false},
      {"::1", true},
      {"::2", false},
      {"::", false},
      {"::ffff:127.0.0.1", true},
      {"::ffff:127.9.9.9", true},
      {"::ffff:10.0.0.1", false},
      {"::127.0.0.1", false},
      {"fe80::1", false},
  };
  for (const auto& [host, loopback] : cases) {
    std::optional<SocketAddress> address = SocketAddress::from_numeric({host, 1});
    ASSERT_TRUE(address.has_value()) << host;
    EXPECT_EQ(address->is_loopback(), loopback) << host;
  }
  EXPECT_FALSE(SocketAddress{}.is_loopback());
}

TEST(IsLoopbackHost, LocalhostOrANumericLoopbackAddressButNoOtherName) {
  const std::pair<const char*, bool> cases[] = {
      {"localhost", true},
      {"127.0.0.1", true},
      {"127.9.9.9", true},
      {"::1", true},
      {"0:0:0:0:0:0:0:1", true},
      {"::ffff:127.0.0.1", true},
      // Names, whatever they resolve to; the name "localhost" only as written.
      {"127.example.com", false},
      {"127.0.0.1.nip.io", false},
      {"localhost.localdomain", false},
      {"localhost.", false},
      {"LocalHost", false},
      {"mail.example.com", false},
      // Not numeric addresses to inet_pton, not loopback ones, or not hosts at all.
      {"127.1", false},
      {"128.0.0.1", false},
      {"10.0.0.1", false},
      {"0.0.0.0", false},
      {"::", false},
      {"::ffff:10.0.0.1", false},
      {"[::1]", false},
      {"127.0.0.1:143", false},
      {"", false},
  };
  for (const auto& [host, loopback] : cases) EXPECT_EQ(is_loopback_host(host), loopback) << host;
}

}  // namespace
}  // namespace popgate::io
