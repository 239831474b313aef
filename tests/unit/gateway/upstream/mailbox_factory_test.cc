// make_mailbox_factory: the adapter and whether an upstream TLS context is needed, by URL scheme;
// the reuse pool in front when --upstream-reuse-time asks for it.
#include "gateway/upstream/mailbox_factory.h"

#include <gtest/gtest.h>

#include <string>

namespace popgate {
namespace {

TEST(UpstreamUrl, EachSchemeHasItsKind) {
  EXPECT_EQ(parse_upstream_url("imap://127.0.0.1").kind(), UpstreamScheme::Imap);
  EXPECT_EQ(parse_upstream_url("imaps://127.0.0.1").kind(), UpstreamScheme::Imaps);
  EXPECT_EQ(parse_upstream_url("jmap://127.0.0.1").kind(), UpstreamScheme::Jmap);
  EXPECT_EQ(parse_upstream_url("jmaps://127.0.0.1").kind(), UpstreamScheme::Jmaps);
  EXPECT_FALSE(parse_upstream_url("imaps://127.0.0.1").is_jmap());
  EXPECT_TRUE(parse_upstream_url("jmap://127.0.0.1").is_jmap());
  EXPECT_TRUE(parse_upstream_url("jmaps://127.0.0.1").is_jmap());
}

// With a CA file that cannot be read, building the factory fails exactly when the scheme needs
// an upstream TLS context.
bool needs_tls(const std::string& url) {
  io::Loop loop;
  Config config;
  config.upstream = parse_upstream_url(url);
  config.upstream_ca = "/nonexistent/ca.pem";
  return !make_mailbox_factory(loop, config);
}

TEST(MailboxFactory, OnlyPlainJmapAndTlsNoneGoWithoutAnUpstreamTlsContext) {
  EXPECT_TRUE(needs_tls("imap://127.0.0.1")) << "STARTTLS when offered";
  EXPECT_TRUE(needs_tls("imaps://127.0.0.1"));
  EXPECT_TRUE(needs_tls("jmaps://127.0.0.1"));
  EXPECT_FALSE(needs_tls("jmap://127.0.0.1"));
  EXPECT_FALSE(needs_tls("imap://127.0.0.1?tls=none"));
}

TEST(MailboxFactory, TheSchemePicksTheAdapterAndReuseAddsThePool) {
  io::Loop loop;
  Config config;
  for (const char* url : {"imap://127.0.0.1?tls=none", "jmap://127.0.0.1"}) {
    config.upstream = parse_upstream_url(url);
    for (uint64_t reuse_ms : {uint64_t{0}, uint64_t{60'000}}) {
      config.upstream_reuse_time_ms = reuse_ms;
      auto factory = make_mailbox_factory(loop, config);
      ASSERT_TRUE(factory) << url;
      EXPECT_EQ(factory.value()->create()->kind(), config.upstream.is_jmap() ? "jmap" : "imap") << url;
      std::string park_key = "stale";
      EXPECT_EQ(factory.value()->take_parked(Credentials{"USER", "alice", SecretString("pw")}, park_key),
                nullptr);
      EXPECT_EQ(park_key.empty(), reuse_ms == 0) << url << " reuse " << reuse_ms;
    }
  }
}

}  // namespace
}  // namespace popgate
