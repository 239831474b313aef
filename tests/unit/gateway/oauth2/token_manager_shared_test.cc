// Two OAuth2TokenManagers (two replicas) sharing one MemorySharedTokens, against FakeTokenServer
// scripted as an identity provider that rotates refresh tokens and revokes the grant when a
// rotated one comes back (as Okta and Auth0 do). The shared store is an in-memory fake with the
// semantics of gateway/state/redis_oauth_tokens.h (the Redis one is tested against a real
// redis-server in tests/integration/shared_oauth_test.cc); here it can also be made unreachable
// on cue.
#include <gtest/gtest.h>

#include <filesystem>

#include "gateway/admin/metrics.h"
#include "gateway/oauth2/shared_tokens.h"
#include "gateway/oauth2/token_manager.h"
#include "gateway/oauth2/token_store.h"
#include "tests/unit/gateway/oauth2/fake_token_server.h"

namespace popgate::oauth2 {
namespace {

using io::testing::run_until;
using popgate::testing::FakeTokenServer;

// What the store holds, answered a tick later like a real one.
class MemorySharedTokens final : public SharedTokens {
 public:
  explicit MemorySharedTokens(io::Loop& loop) : loop_(loop) {}

  void read(const std::string&, ReadDone done) override {
    ++reads;
    later([this, done = std::move(done)] {
      if (!reachable)
        return done(make_error(ErrorKind::Temporary, "the state store is unreachable: refused"));
      Read read;
      if (stored) read.tokens = *stored;
      read.version = version;
      done(std::move(read));
    });
  }
  void lock(const std::string&, Done done) override {
    later([this, done = std::move(done)] {
      if (!reachable)
        return done(make_error(ErrorKind::Temporary, "the state store is unreachable: refused"));
      if (locked) return done(false);
      locked = true;
      done(true);
    });
  }
  void unlock(const std::string&) override {
    later([this] { locked = false; });
  }
  void replace(const std::string&, const std::string& expected, const StoredTokens& tokens,
               Done done) override {
    later([this, expected, tokens, done = std::move(done)] {
      if (!reachable)
        return done(make_error(ErrorKind::Temporary, "the state store is unreachable: refused"));
      locked = false;
      if (expected != version) return done(false);
      put(tokens);
      done(true);
    });
  }
  void overwrite(const std::string&, const StoredTokens& tokens, Done done) override {
    later([this, tokens, done = std::move(done)] {
      put(tokens);
      done(true);
    });
  }

  void put(const StoredTokens& tokens) {
    stored = tokens;
    version = "v" + std::to_string(++writes);
  }
  std::string refresh_token() const { return stored ? std::string(stored->refresh_token.reveal()) : ""; }

  bool reachable = true;
  bool locked = false;
  std::optional<StoredTokens> stored;
  std::string version;
  int writes = 0;
  int reads = 0;

 private:
  void later(std::function<void()> step) { loop_.defer(std::move(step)); }
  io::Loop& loop_;
};

struct Fetched {
  std::optional<Result<SecretString>> result;
  CredentialSource::Done callback() {
    return [this](Result<SecretString> r) { result = std::move(r); };
  }
  bool done() const { return result.has_value(); }
  std::string token() const {
    return result && result->ok() ? std::string(result->value().reveal()) : "<error>";
  }
};

class SharedTokensTest : public ::testing::Test {
 protected:
  SharedTokensTest() : server(loop) {
    // rt-N is good until it has been rotated; presenting it again revokes the whole family.
    server.respond = [this](const FakeTokenServer::Request& request) {
      const std::string presented = request.form.at("refresh_token");
      if (revoked || presented != "rt-" + std::to_string(generation)) {
        revoked = true;
        return FakeTokenServer::Answer{400, R"({"error":"invalid_grant","error_description":"reuse"})"};
      }
      ++generation;
      return FakeTokenServer::Answer{200,
                                     R"({"access_token":"access-)" + std::to_string(generation) +
                                         R"(","token_type":"Bearer","expires_in":100,"refresh_token":"rt-)" +
                                         std::to_string(generation) + R"("})"};
    };
    for (auto& dir : token_dirs) {
      char path[] = "/tmp/popgate-shared-tokens-XXXXXX";
      dir = ::mkdtemp(path);
    }
  }
  ~SharedTokensTest() override {
    for (auto& replica : replicas) replica.reset();
    for (auto& dir : token_dirs) std::filesystem::remove_all(dir);
  }

  // Replica `i`, its token_dir holding `file_token` (none: empty).
  void start(size_t i, const std::string& file_token = "rt-1") {
    if (!file_token.empty()) {
      ASSERT_TRUE(write_token_file(token_dirs[i], "okta", SecretString(file_token)).ok());
    }
    OAuth2ClientConfig config;
    config.name = "okta";
    config.token_endpoint = server.url();
    config.client_id = "client-id";
    config.grant = Grant::RefreshToken;
    OAuth2Config all;
    all.token_dir = token_dirs[i];
    all.clients.emplace(config.name, std::move(config));
    TokenManagerOptions options;
    options.expiry_margin_ms = 10'000;  // 100 s tokens: fresh for 90 s
    options.now_ms = [this] { return clock_ms; };
    options.unix_ms = [this] { return 1'700'000'000'000 + clock_ms; };
    options.shared_poll_ms = 1;
    replicas[i] = std::make_unique<OAuth2TokenManager>(loop, std::move(all), nullptr, &metrics, options);
    ASSERT_TRUE(replicas[i]->load_refresh_tokens().ok());
    replicas[i]->share_through(&store);
  }

  std::string fetch(size_t i) {
    Fetched fetched;
    PendingFetchPtr handle = replicas[i]->fetch("okta", fetched.callback());
    EXPECT_TRUE(run_until(loop, [&] { return fetched.done(); }));
    return fetched.token();
  }

  double counter(const std::string& series) {
    const std::string text = metrics.serialize();
    const size_t at = text.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
  }

  io::Loop loop;
  FakeTokenServer server;
  Metrics metrics;
  MemorySharedTokens store{loop};
  std::array<std::string, 2> token_dirs;
  std::array<std::unique_ptr<OAuth2TokenManager>, 2> replicas;
  uint64_t clock_ms = 1'000'000;
  int generation = 1;
  bool revoked = false;
};

TEST_F(SharedTokensTest, TwentyFiveLoginsOnEachOfTwoReplicasShareOneRefresh) {
  start(0);
  start(1);
  std::vector<Fetched> fetched(50);
  std::vector<PendingFetchPtr> handles;
  for (size_t i = 0; i < fetched.size(); ++i)
    handles.push_back(replicas[i % 2]->fetch("okta", fetched[i].callback()));
  ASSERT_TRUE(run_until(loop, [&] {
    return std::all_of(fetched.begin(), fetched.end(), [](const Fetched& f) { return f.done(); });
  }));
  for (const Fetched& f : fetched) EXPECT_EQ(f.token(), "access-2");
  EXPECT_EQ(server.requests.size(), 1u) << "one refresh for both replicas";
  EXPECT_FALSE(revoked);
  EXPECT_EQ(store.refresh_token(), "rt-2") << "the rotated token is what the store keeps";
  EXPECT_EQ(counter("popgate_oauth_shared_tokens_total{outcome=\"refreshed\"}"), 1.0);
  EXPECT_EQ(counter("popgate_oauth_shared_tokens_total{outcome=\"adopted\"}"), 1.0);
}

TEST_F(SharedTokensTest, EachRefreshStartsFromTheNewestRotatedTokenWhicheverReplicaRotatedIt) {
  start(0);
  start(1);  // its token_dir still says rt-1, long rotated by the time it refreshes
  for (int round = 0; round < 6; ++round) {
    EXPECT_EQ(fetch(round % 2), "access-" + std::to_string(round + 2)) << round;
    clock_ms += 95'000;  // past the margin: the next fetch refreshes
  }
  EXPECT_EQ(server.requests.size(), 6u);
  EXPECT_FALSE(revoked) << "no refresh token was ever presented twice";
  for (size_t i = 0; i < server.requests.size(); ++i) {
    EXPECT_EQ(server.requests[i].form.at("refresh_token"), "rt-" + std::to_string(i + 1));
  }
}

TEST_F(SharedTokensTest, TheTokenDirFileIsImportedOnlyWhenTheStoreHasNone) {
  start(0);
  EXPECT_EQ(fetch(0), "access-2");
  EXPECT_EQ(server.requests[0].form.at("refresh_token"), "rt-1") << "imported from token_dir";
  EXPECT_EQ(store.refresh_token(), "rt-2");
  // A replica started later with an old file: the store wins.
  start(1, "rt-0-stale");
  clock_ms += 95'000;
  EXPECT_EQ(fetch(1), "access-3");
  EXPECT_EQ(server.requests.back().form.at("refresh_token"), "rt-2");
}

TEST_F(SharedTokensTest, AReplicaWaitsForTheOneHoldingTheLeaseAndTakesItsToken) {
  start(0);
  start(1);
  store.locked = true;  // another replica is refreshing
  Fetched waiting;
  PendingFetchPtr handle = replicas[1]->fetch("okta", waiting.callback());
  ASSERT_TRUE(run_until(loop, [&] { return store.reads >= 3; }));
  EXPECT_FALSE(waiting.done());
  EXPECT_EQ(server.requests.size(), 0u) << "nobody presents a refresh token while another may";
  // The holder finishes: its tokens are stored and its lease given back.
  StoredTokens theirs;
  theirs.refresh_token = SecretString("rt-2");
  theirs.access_token = SecretString("access-from-the-other");
  theirs.fresh_until_unix_ms = 1'700'000'000'000 + clock_ms + 60'000;
  theirs.expires_at_unix_ms = theirs.fresh_until_unix_ms + 10'000;
  store.put(theirs);
  store.locked = false;
  ASSERT_TRUE(run_until(loop, [&] { return waiting.done(); }));
  EXPECT_EQ(waiting.token(), "access-from-the-other");
  EXPECT_EQ(server.requests.size(), 0u);
}

TEST_F(SharedTokensTest, WithTheStoreUnreachableAValidTokenIsUsedAndNoRefreshRunsUncoordinated) {
  start(0);
  EXPECT_EQ(fetch(0), "access-2");
  store.reachable = false;
  clock_ms += 95'000;  // past the margin, before expiry (100 s)
  EXPECT_EQ(fetch(0), "access-2") << "still valid for 5 s";
  EXPECT_EQ(counter("popgate_oauth_shared_tokens_total{outcome=\"held_only\"}"), 1.0);
  clock_ms += 10'000;  // expired
  EXPECT_EQ(fetch(0), "<error>");
  EXPECT_EQ(server.requests.size(), 1u) << "no refresh outside the store";
  store.reachable = true;
  clock_ms += 120'000;  // past the backoff
  EXPECT_EQ(fetch(0), "access-3");
  EXPECT_FALSE(revoked);
}

TEST_F(SharedTokensTest, RotatedTokensTheStoreDidNotTakeAreHandedToItBeforeTheNextRefresh) {
  start(0);
  start(1);
  EXPECT_EQ(fetch(0), "access-2");
  clock_ms += 95'000;
  // The refresh goes through, the store falls over before the outcome is written.
  server.respond = [this, original = server.respond,
                    once = true](const FakeTokenServer::Request& request) mutable {
    if (once) store.reachable = false;
    once = false;
    return original(request);
  };
  EXPECT_EQ(fetch(0), "access-3") << "the new access token is good";
  EXPECT_EQ(store.refresh_token(), "rt-2") << "the store missed rt-3";
  store.reachable = true;
  clock_ms += 95'000;
  // Replica 0 hands rt-3 over first, so replica 1 never presents the rotated rt-2.
  EXPECT_EQ(fetch(0), "access-4");
  EXPECT_EQ(store.refresh_token(), "rt-4");
  clock_ms += 95'000;
  EXPECT_EQ(fetch(1), "access-5");
  EXPECT_FALSE(revoked);
}

TEST_F(SharedTokensTest, ARevokedGrantIsRefusedWithoutRetryingTheSameTokenAtOnce) {
  start(0);
  revoked = true;
  EXPECT_EQ(fetch(0), "<error>");
  EXPECT_EQ(server.requests.size(), 1u);
  EXPECT_TRUE(run_until(loop, [&] { return !store.locked; })) << "the lease is given back";
  EXPECT_EQ(fetch(0), "<error>") << "backing off";
  EXPECT_EQ(server.requests.size(), 1u);
  // `popgate oauth login` stores a new grant; the next attempt after the backoff uses it.
  revoked = false;
  generation = 7;
  StoredTokens fresh;
  fresh.refresh_token = SecretString("rt-7");
  store.put(fresh);
  clock_ms += 120'000;
  EXPECT_EQ(fetch(0), "access-8");
}

}  // namespace
}  // namespace popgate::oauth2
