// OAuth2 tokens in Redis: sealed JSON under the client's key, a lease for the refresh, and a
// compare-and-set for its outcome.
#include "gateway/state/redis_oauth_tokens.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "gateway/io/timer.h"
#include "gateway/state/lease_scripts.h"
#include "protocol/common/wipe.h"

namespace popgate {
namespace {

// KEYS[1] the tokens, KEYS[2] the lease; ARGV[1] the value read ("" for none), ARGV[2] the new
// value, ARGV[3] our lease owner token. 1: stored; 0: the tokens changed meanwhile, left alone.
// The lease is given back either way.
const io::RedisScript& replace_script() {
  static const io::RedisScript script(R"lua(local current = redis.call('GET', KEYS[1]) or ''
local stored = 0
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  stored = 1
end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return stored
)lua");
  return script;
}

Result<oauth2::StoredTokens> parse_tokens(const SecretString& json_text) {
  nlohmann::json json = nlohmann::json::parse(json_text.reveal(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("refresh_token") || !json["refresh_token"].is_string()) {
    return make_error(ErrorKind::Temporary, "the stored OAuth2 tokens are not what popgate writes");
  }
  oauth2::StoredTokens tokens;
  tokens.refresh_token = SecretString(json["refresh_token"].get<std::string>());
  if (json.contains("access_token") && json["access_token"].is_string())
    tokens.access_token = SecretString(json["access_token"].get<std::string>());
  tokens.fresh_until_unix_ms = json.value("fresh_until_unix_ms", uint64_t{0});
  tokens.expires_at_unix_ms = json.value("expires_at_unix_ms", uint64_t{0});
  for (auto& [name, value] : json.items()) {
    if (value.is_string()) wipe(value.get_ref<std::string&>());
  }
  return tokens;
}

}  // namespace

RedisOAuthTokens::RedisOAuthTokens(io::RedisConnection& store, StateStoreMetrics& metrics, TokenSeal seal,
                                   std::string key_prefix, uint64_t lease_ms, std::string owner_prefix)
    : store_(store),
      metrics_(metrics),
      seal_(std::move(seal)),
      key_prefix_(std::move(key_prefix)),
      lease_ms_(lease_ms),
      owner_(lease_owner_token(owner_prefix)) {}

RedisOAuthTokens::~RedisOAuthTokens() {
  alive_.revoke();
}

std::string RedisOAuthTokens::sealed(const std::string& client, const oauth2::StoredTokens& tokens) const {
  nlohmann::json json = {{"refresh_token", std::string(tokens.refresh_token.reveal())},
                         {"access_token", std::string(tokens.access_token.reveal())},
                         {"fresh_until_unix_ms", tokens.fresh_until_unix_ms},
                         {"expires_at_unix_ms", tokens.expires_at_unix_ms}};
  SecretString plaintext(json.dump());
  for (auto& [name, value] : json.items()) {
    if (value.is_string()) wipe(value.get_ref<std::string&>());
  }
  return seal_.seal(plaintext.reveal(), tokens_key(client));
}

void RedisOAuthTokens::read(const std::string& client, ReadDone done) {
  const uint64_t began = io::monotonic_ns();
  store_.command({"GET", tokens_key(client)}, [this, alive = alive_.watch(), began, key = tokens_key(client),
                                               done = std::move(done)](Result<io::RedisReply> reply) {
    if (!alive) return;
    metrics_.command_completed(io::seconds_since(began));
    if (!reply) {
      metrics_.error(StoreError::Unreachable);
      return done(reply.error());
    }
    const io::RedisReply& value = reply.value();
    if (value.type == io::RedisReply::Type::Nil) return done(Read{});
    if (value.type != io::RedisReply::Type::String) {
      metrics_.error(StoreError::Reply);
      return done(make_error(ErrorKind::Temporary, "the state store answered " + value.text.substr(0, 200)));
    }
    auto opened = seal_.open(value.text, key);
    if (!opened) {
      // Another key (state_store_key_file differs between replicas?) or an altered value: never
      // overwrite it blindly, never present what it holds.
      return done(make_error(ErrorKind::Temporary,
                             "the stored OAuth2 tokens of " + key +
                                 " do not open with this replica's key: " + opened.error().detail));
    }
    auto tokens = parse_tokens(opened.value());
    if (!tokens) return done(tokens.error());
    done(Read{std::move(tokens).value(), value.text});
  });
}

void RedisOAuthTokens::lock(const std::string& client, Done done) {
  const uint64_t began = io::monotonic_ns();
  store_.command({"SET", lease_key(client), owner_, "NX", "PX", std::to_string(lease_ms_)},
                 [this, alive = alive_.watch(), began, done = std::move(done)](Result<io::RedisReply> reply) {
                   if (!alive) return;
                   finish_write(std::move(reply), done, began);
                 });
}

void RedisOAuthTokens::unlock(const std::string& client) {
  store_.eval(release_lease_script(), {lease_key(client)}, {owner_}, [](Result<io::RedisReply>) {});
}

void RedisOAuthTokens::replace(const std::string& client, const std::string& version,
                               const oauth2::StoredTokens& tokens, Done done) {
  const uint64_t began = io::monotonic_ns();
  store_.eval(replace_script(), {tokens_key(client), lease_key(client)},
              {version, sealed(client, tokens), owner_},
              [this, alive = alive_.watch(), began, done = std::move(done)](Result<io::RedisReply> reply) {
                if (!alive) return;
                finish_write(std::move(reply), done, began);
              });
}

void RedisOAuthTokens::overwrite(const std::string& client, const oauth2::StoredTokens& tokens, Done done) {
  const uint64_t began = io::monotonic_ns();
  store_.command({"SET", tokens_key(client), sealed(client, tokens)},
                 [this, alive = alive_.watch(), began, done = std::move(done)](Result<io::RedisReply> reply) {
                   if (!alive) return;
                   finish_write(std::move(reply), done, began);
                 });
}

void RedisOAuthTokens::finish_write(Result<io::RedisReply> reply, const Done& done, uint64_t began_ns) {
  metrics_.command_completed(io::seconds_since(began_ns));
  if (!reply) {
    metrics_.error(StoreError::Unreachable);
    return done(reply.error());
  }
  const io::RedisReply& value = reply.value();
  if (value.type == io::RedisReply::Type::Nil) return done(false);  // SET NX: held by another
  if (value.type == io::RedisReply::Type::Status && value.text == "OK") return done(true);
  if (value.type == io::RedisReply::Type::Integer) return done(value.integer == 1);
  metrics_.error(StoreError::Reply);
  done(make_error(ErrorKind::Temporary, "the state store answered " + value.text.substr(0, 200)));
}

}  // namespace popgate
