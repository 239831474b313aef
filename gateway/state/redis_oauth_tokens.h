// RedisOAuthTokens: OAuth2 clients' tokens in Redis, sealed (token_seal.h), for every replica.
//
// PREFIXoauth:CLIENT holds the sealed tokens, with that key as the seal's context, so a value
// copied to another client's key does not open. PREFIXoauth:CLIENT:refreshing is the refresh
// lease (SET NX PX), held by one replica while it asks the identity provider; it runs out on its
// own if that replica dies mid-request. The compare-and-set that stores a refresh's outcome
// compares the whole sealed value (a fresh nonce each time, so equal means unchanged).
#pragma once

#include <cstdint>
#include <string>

#include "gateway/admin/state_store_metrics.h"
#include "gateway/io/liveness.h"
#include "gateway/io/redis_connection.h"
#include "gateway/oauth2/shared_tokens.h"
#include "gateway/state/token_seal.h"

namespace popgate {

class RedisOAuthTokens final : public oauth2::SharedTokens {
 public:
  // `store` and `metrics` outlive it; `key_prefix` is the store's prefix and "oauth:";
  // `lease_ms` must outlast one token request; `owner_prefix` names this replica.
  RedisOAuthTokens(io::RedisConnection& store, StateStoreMetrics& metrics, TokenSeal seal,
                   std::string key_prefix, uint64_t lease_ms, std::string owner_prefix);
  ~RedisOAuthTokens() override;

  void read(const std::string& client, ReadDone done) override;
  void lock(const std::string& client, Done done) override;
  void unlock(const std::string& client) override;
  void replace(const std::string& client, const std::string& version, const oauth2::StoredTokens& tokens,
               Done done) override;
  void overwrite(const std::string& client, const oauth2::StoredTokens& tokens, Done done) override;

 private:
  std::string tokens_key(const std::string& client) const { return key_prefix_ + client; }
  std::string lease_key(const std::string& client) const { return key_prefix_ + client + ":refreshing"; }
  std::string sealed(const std::string& client, const oauth2::StoredTokens& tokens) const;
  // A reply to a write: 1 / OK is true, 0 false, anything else an Error.
  void finish_write(Result<io::RedisReply> reply, const Done& done, uint64_t began_ns);

  io::RedisConnection& store_;
  StateStoreMetrics& metrics_;
  const TokenSeal seal_;
  const std::string key_prefix_;
  const uint64_t lease_ms_;
  const std::string owner_;  // this replica's lease owner token
  io::Liveness alive_;
};

}  // namespace popgate
