// What every lease in the store shares: a random owner token, and the compare-and-delete that
// gives a lease back only while it is still the giver's.
#pragma once

#include <string>

#include "gateway/io/redis_command.h"

namespace popgate {

// `prefix` (the replica's host name and a colon) says which replica holds a lease; 32 random hex
// digits make it this holder's alone.
std::string lease_owner_token(const std::string& prefix = "");

// KEYS[1] the lease, ARGV[1] the owner token: deletes it only if it is still ours (one that ran
// out and was taken by another holder stays theirs).
const io::RedisScript& release_lease_script();

}  // namespace popgate
