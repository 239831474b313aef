// The filtered IMAP snapshot: SEARCH criteria from the filter and the clock, and the listing kept
// from what the upstream returned (order, size limit and its count, newest N, UIDLs unchanged).
#include "adapters/imap/imap_snapshot.h"

#include <gtest/gtest.h>

#include "adapters/imap/imap_mailbox.h"
#include "protocol/imap/imap_command_builder.h"

namespace popgate {
namespace {

constexpr int64_t k2026Dec07At2130Utc = 1'796'679'000;

TEST(SearchDate, TheUtcDayInRfc3501Form) {
  EXPECT_EQ(imap::search_date(0), "1-Jan-1970");
  EXPECT_EQ(imap::search_date(k2026Dec07At2130Utc), "7-Dec-2026");
  EXPECT_EQ(imap::search_date(951'782'400), "29-Feb-2000");
  EXPECT_EQ(imap::search_date(951'782'400 - 1), "28-Feb-2000") << "one second before midnight";
}

TEST(SnapshotSearchCriteria, EachFilterAloneAndTogether) {
  SnapshotFilter filter;
  EXPECT_EQ(snapshot_search_criteria(filter, k2026Dec07At2130Utc), "");
  filter.only_unseen = true;
  EXPECT_EQ(snapshot_search_criteria(filter, k2026Dec07At2130Utc), "UNSEEN");
  filter.only_unseen = false;
  filter.max_age_days = 1;
  EXPECT_EQ(snapshot_search_criteria(filter, k2026Dec07At2130Utc), "SINCE 7-Dec-2026") << "today only";
  filter.max_age_days = 30;
  EXPECT_EQ(snapshot_search_criteria(filter, k2026Dec07At2130Utc), "SINCE 8-Nov-2026");
  filter.only_unseen = true;
  EXPECT_EQ(snapshot_search_criteria(filter, k2026Dec07At2130Utc), "UNSEEN SINCE 8-Nov-2026");
  // Neither size nor count is a SEARCH: they apply to the listing.
  SnapshotFilter listing_only;
  listing_only.max_messages = 3;
  listing_only.max_message_size = 100;
  EXPECT_FALSE(listing_only.searches());
  EXPECT_EQ(snapshot_search_criteria(listing_only, k2026Dec07At2130Utc), "");
}

std::vector<std::string> ids(const Snapshot& snapshot) {
  std::vector<std::string> out;
  for (const auto& message : snapshot.messages) out.push_back(message.upstream_id);
  return out;
}

TEST(FillSnapshot, MailboxOrderWithoutRepeatsWhateverOrderTheFetchesCame) {
  Snapshot snapshot;
  fill_snapshot({{9, 90}, {3, 30}, {5, 50}, {3, 30}}, 77, SnapshotFilter{}, snapshot);
  EXPECT_EQ(ids(snapshot), (std::vector<std::string>{"3", "5", "9"}));
  EXPECT_EQ(snapshot.messages[1].size, 50u);
  EXPECT_EQ(snapshot.messages[1].uidl, make_imap_uidl(5, 77)) << "the UIDL whatever filter lists it";
  EXPECT_EQ(snapshot.too_large, 0u);
}

TEST(FillSnapshot, LargerThanTheLimitIsLeftOutAndCountedThenTheNewestNKept) {
  SnapshotFilter filter;
  filter.max_message_size = 50;
  Snapshot sized;
  fill_snapshot({{1, 10}, {2, 51}, {3, 50}, {4, 900}, {5, 20}}, 7, filter, sized);
  EXPECT_EQ(ids(sized), (std::vector<std::string>{"1", "3", "5"})) << "50 is not larger than 50";
  EXPECT_EQ(sized.too_large, 2u);
  filter.max_messages = 2;
  Snapshot newest;
  fill_snapshot({{1, 10}, {2, 51}, {3, 50}, {4, 900}, {5, 20}}, 7, filter, newest);
  EXPECT_EQ(ids(newest), (std::vector<std::string>{"3", "5"})) << "the newest two of what the size leaves";
  filter.max_messages = 10;
  Snapshot all;
  fill_snapshot({{1, 10}, {3, 50}}, 7, filter, all);
  EXPECT_EQ(ids(all), (std::vector<std::string>{"1", "3"}));
}

}  // namespace
}  // namespace popgate
