// What the IMAP adapter asks the upstream for a device's snapshot (SnapshotFilter), and what it
// keeps of the answer. Sans I/O: the SEARCH criteria from the filter and the clock, and the
// listing from the (UID, RFC822.SIZE) pairs the upstream returned.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "adapters/mailbox.h"

namespace popgate {

// UID SEARCH criteria for the filters IMAP can apply ("UNSEEN SINCE 7-Nov-2026"); empty when the
// filter needs no SEARCH (then the listing is UID FETCH 1:*). SINCE compares the internal date's
// day (RFC 3501 §6.4.4): a message received on the first day counts, whatever its hour.
std::string snapshot_search_criteria(const SnapshotFilter& filter, int64_t now_unix_s);

// The snapshot's messages from the upstream's (UID, size) pairs, in any order and possibly
// repeated: mailbox (UID) order, larger than max_message_size left out and counted, then the
// newest max_messages kept.
void fill_snapshot(std::vector<std::pair<uint32_t, uint64_t>> uids_and_sizes, uint32_t uidvalidity,
                   const SnapshotFilter& filter, Snapshot& snapshot);

}  // namespace popgate
