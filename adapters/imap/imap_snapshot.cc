// SEARCH criteria and the listing of a filtered IMAP snapshot.
#include "adapters/imap/imap_snapshot.h"

#include <algorithm>

#include "adapters/imap/imap_mailbox.h"
#include "protocol/imap/imap_command_builder.h"

namespace popgate {

std::string snapshot_search_criteria(const SnapshotFilter& filter, int64_t now_unix_s) {
  std::string criteria;
  auto add = [&criteria](const std::string& key) {
    if (!criteria.empty()) criteria += ' ';
    criteria += key;
  };
  if (filter.only_unseen) add("UNSEEN");
  if (filter.max_age_days > 0) {
    // The last N days: today and the N-1 before it (SINCE counts whole days).
    const int64_t since = now_unix_s - static_cast<int64_t>(filter.max_age_days - 1) * 86'400;
    add("SINCE " + imap::search_date(since));
  }
  return criteria;
}

void fill_snapshot(std::vector<std::pair<uint32_t, uint64_t>> list, uint32_t uidvalidity,
                   const SnapshotFilter& filter, Snapshot& snapshot) {
  // UID order is mailbox order (RFC 3501 §2.3.1.1), whatever order the FETCHes came in.
  std::sort(list.begin(), list.end());
  list.erase(
      std::unique(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
      list.end());
  if (filter.max_message_size > 0) {
    const auto too_large = std::remove_if(
        list.begin(), list.end(), [&](const auto& entry) { return entry.second > filter.max_message_size; });
    snapshot.too_large = static_cast<uint64_t>(list.end() - too_large);
    list.erase(too_large, list.end());
  }
  const size_t first =
      filter.max_messages > 0 && list.size() > filter.max_messages ? list.size() - filter.max_messages : 0;
  snapshot.messages.reserve(list.size() - first);
  for (size_t i = first; i < list.size(); ++i) {
    const auto [uid, size] = list[i];
    snapshot.messages.push_back(MessageInfo{std::to_string(uid), size, make_imap_uidl(uid, uidvalidity)});
  }
}

}  // namespace popgate
