// Maildrop leases in Redis: taken with SET NX PX, renewed and given back by compare-and-set scripts.
#include "gateway/state/redis_maildrop_locks.h"

#include <utility>

#include "gateway/io/timer.h"
#include "gateway/log.h"
#include "gateway/state/lease_scripts.h"

namespace popgate {
namespace {

// KEYS[1] the lease, ARGV[1] our owner token, ARGV[2] the lease in ms. 1: renewed; 2: there was
// none, and now it is ours again; 0: someone else's.
const io::RedisScript& renew_script() {
  static const io::RedisScript script(R"lua(local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
)lua");
  return script;
}

StoreError store_error_of(const Error& error) {
  if (error.kind == ErrorKind::Protocol) return StoreError::Protocol;
  if (error.detail.find("timed out") != std::string::npos) return StoreError::Timeout;
  return StoreError::Unreachable;
}

void ignore_reply(Result<io::RedisReply>) {}

}  // namespace

// ---------------------------------------------------------------- a held lock

class RedisMaildropLockTable::Lease final : public MaildropLock {
 public:
  Lease(RedisMaildropLockTable& table, std::shared_ptr<MaildropLock> local, std::string key,
        std::string owner)
      : table_(table),
        table_alive_(table.alive_.watch()),
        local_(std::move(local)),
        key_(std::move(key)),
        owner_(std::move(owner)),
        renew_timer_(table.loop_) {
    schedule_renewal();
  }

  ~Lease() override {
    // The table (and its connection) gone: the lease runs out on its own.
    if (!table_alive_) return;
    table_.store_.eval(release_lease_script(), {key_}, {owner_}, ignore_reply);
  }

 private:
  void schedule_renewal() {
    renew_timer_.start(std::max<uint64_t>(1, table_.settings_.lease_ms / 3), [this] { renew(); });
  }

  void renew() {
    if (!table_alive_) return;
    const uint64_t began = io::monotonic_ns();
    table_.store_.eval(renew_script(), {key_}, {owner_, std::to_string(table_.settings_.lease_ms)},
                       [this, alive = alive_.watch(), began](Result<io::RedisReply> reply) {
                         if (!alive || !table_alive_) return;
                         table_.metrics_.command_completed(io::seconds_since(began));
                         on_renewed(reply);
                         schedule_renewal();
                       });
  }

  void on_renewed(const Result<io::RedisReply>& reply) {
    if (!reply) {
      // Unreachable: the session goes on; the next renewal tries again.
      table_.metrics_.error(store_error_of(reply.error()));
      return;
    }
    const io::RedisReply& answer = reply.value();
    if (answer.type != io::RedisReply::Type::Integer) {
      table_.metrics_.error(StoreError::Reply);
      return;
    }
    if (answer.integer == 2) {
      table_.metrics_.lease_retaken();
      log::Line(log::Level::Info, "maildrop_lease_retaken").field("key", key_);
    } else if (answer.integer == 0 && !lost_) {
      table_.metrics_.lease_lost();
      log::Line(log::Level::Warn, "maildrop_lease_lost")
          .field("key", key_)
          .field("reason", "another session holds the lease; deletions still go by UID");
    }
    lost_ = answer.integer == 0;
  }

  RedisMaildropLockTable& table_;
  io::Liveness::Watch table_alive_;
  std::shared_ptr<MaildropLock> local_;  // this replica's part of the lock
  std::string key_;
  std::string owner_;
  bool lost_ = false;  // the last renewal found another owner (logged once)
  io::Timer renew_timer_;
  io::Liveness alive_;
};

// ---------------------------------------------------------------- taking one

class RedisMaildropLockTable::Pending final : public PendingMaildropLock {
 public:
  io::Liveness alive;
};

RedisMaildropLockTable::RedisMaildropLockTable(io::Loop& loop, io::RedisConnection& store,
                                               MaildropLocks& process_locks, StateStoreMetrics& metrics,
                                               MaildropLeaseSettings settings)
    : loop_(loop),
      store_(store),
      process_locks_(process_locks),
      metrics_(metrics),
      settings_(std::move(settings)) {}

RedisMaildropLockTable::~RedisMaildropLockTable() {
  alive_.revoke();
}

PendingMaildropLockPtr RedisMaildropLockTable::acquire(const std::string& key, Done done) {
  auto pending = std::make_unique<Pending>();
  std::shared_ptr<MaildropLock> local = process_locks_.try_acquire(key);
  if (!local) {
    metrics_.lock_refused(LockRefusal::Session);
    loop_.defer([done = std::move(done), alive = pending->alive.watch()] {
      if (alive) done(make_error(ErrorKind::InUse, "another session of this replica holds the maildrop"));
    });
    return pending;
  }
  std::string store_key = settings_.key_prefix + key;
  std::string owner = lease_owner_token(settings_.owner_prefix);
  const uint64_t began = io::monotonic_ns();
  std::vector<std::string> command = {"SET", store_key, owner,
                                      "NX",  "PX",      std::to_string(settings_.lease_ms)};
  store_.command(std::move(command), [this, table_alive = alive_.watch(), alive = pending->alive.watch(),
                                      began, local = std::move(local), key, store_key, owner,
                                      done = std::move(done)](Result<io::RedisReply> reply) mutable {
    if (!table_alive) return;
    metrics_.command_completed(io::seconds_since(began));
    const bool granted = reply && reply.value().is_ok();
    if (!alive) {
      // Nobody is left to hold it.
      if (granted) store_.eval(release_lease_script(), {store_key}, {owner}, ignore_reply);
      return;
    }
    if (granted) return done(MaildropLockPtr(std::make_unique<Lease>(*this, local, store_key, owner)));
    if (reply && reply.value().is_nil()) {
      metrics_.lock_refused(LockRefusal::Replica);
      return done(make_error(ErrorKind::InUse, "another replica's session holds the maildrop"));
    }
    const Error why = reply ? make_error(ErrorKind::Temporary,
                                         "the state store answered: " + reply.value().text.substr(0, 200))
                            : reply.error();
    metrics_.error(reply ? StoreError::Reply : store_error_of(why));
    if (settings_.failure == StateStoreFailure::Closed) {
      metrics_.lock_refused(LockRefusal::Store);
      return done(make_error(ErrorKind::Temporary, "the maildrop lock cannot be checked: " + why.detail));
    }
    // Open: this replica's lock alone until the store is back; the first renewal then takes the lease.
    metrics_.lock_local_only();
    log::Line(log::Level::Debug, "maildrop_lock_local_only").field("key", key).field("reason", why.detail);
    done(MaildropLockPtr(std::make_unique<Lease>(*this, local, store_key, owner)));
  });
  return pending;
}

}  // namespace popgate
