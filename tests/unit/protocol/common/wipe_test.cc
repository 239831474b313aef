// wipe, wipe_range, wipe_front: what is left is right, and what went is zero in the buffer
// itself, spare capacity included.
#include "protocol/common/wipe.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocol/common/secret.h"

namespace popgate {
namespace {

TEST(Wipe, ZeroesTheWholeBufferAndEmptiesTheString) {
  std::string s(100, 'p');
  s.resize(10);  // the 90 octets past size() still hold 'p'
  const char* buffer = s.data();
  const size_t capacity = s.capacity();
  wipe(s);
  EXPECT_TRUE(s.empty());
  ASSERT_EQ(s.data(), buffer);  // clear() keeps the allocation: the octets are checkable
  for (size_t i = 0; i < capacity; ++i) ASSERT_EQ(buffer[i], 0) << "octet " << i;
}

TEST(Wipe, ZeroesTheSpareCapacityOfAClearedString) {
  std::string s = "a001 LOGIN alice Tr0ub4dor&3-hunter2 and some more to leave the short buffer";
  s.clear();  // size() 0 and a NUL at the front, the other octets still there
  const char* buffer = s.data();
  const size_t capacity = s.capacity();
  ASSERT_EQ(std::string_view(buffer + 1, 9), "001 LOGIN");
  wipe(s);
  ASSERT_EQ(s.data(), buffer);
  for (size_t i = 0; i < capacity; ++i) ASSERT_EQ(buffer[i], 0) << "octet " << i;
}

TEST(Wipe, ZeroesAShortStringsWholeInlineBuffer) {
  std::string s = "secret12345";  // within the short-string buffer: no allocation
  s.resize(2);
  const char* buffer = s.data();
  const size_t capacity = s.capacity();
  wipe(s);
  for (size_t i = 0; i < capacity; ++i) ASSERT_EQ(buffer[i], 0) << "octet " << i;
}

TEST(Wipe, WipeRangeZeroesOnlyTheRangeWithinTheSize) {
  std::string s(64, 'x');  // spare capacity that must stay as it is
  s = "USER a\r\nPASS secret\r\nSTAT\r\n";
  const char* buffer = s.data();
  const size_t capacity = s.capacity();
  wipe_range(s, 8, 21);
  EXPECT_EQ(s, std::string("USER a\r\n") + std::string(13, '\0') + "STAT\r\n");
  wipe_range(s, 21, 1000);  // clamped to size()
  EXPECT_EQ(s.size(), 27u);
  EXPECT_EQ(s.substr(0, 8), "USER a\r\n");
  EXPECT_EQ(s.substr(21), std::string(6, '\0'));
  ASSERT_EQ(s.data(), buffer);
  for (size_t i = s.size() + 1; i < capacity; ++i) ASSERT_EQ(buffer[i], 'x') << "octet " << i;
  wipe_range(s, 5, 5);
  wipe_range(s, 9, 3);
  EXPECT_EQ(s.substr(0, 8), "USER a\r\n");
}

TEST(Wipe, WipeFrontKeepsTheRestAndZeroesTheVacatedTail) {
  std::string s = "a001 LOGIN user secret\r\nrest";
  const char* buffer = s.data();
  const size_t old_size = s.size();
  wipe_front(s, 24);
  EXPECT_EQ(s, "rest");
  ASSERT_EQ(s.data(), buffer);
  for (size_t i = s.size(); i < old_size; ++i) ASSERT_EQ(buffer[i], 0) << "octet " << i;
}

TEST(Wipe, WipeFrontOfEverythingOrMoreEmptiesIt) {
  std::string s = "secret";
  wipe_front(s, 6);
  EXPECT_TRUE(s.empty());
  s = "secret";
  wipe_front(s, 60);
  EXPECT_TRUE(s.empty());
  s = "secret";
  wipe_front(s, 0);
  EXPECT_EQ(s, "secret");
}

TEST(Wipe, WipeMemoryZeroesExactlyTheOctetsGiven) {
  char buffer[8] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
  wipe_memory(buffer + 2, 4);
  EXPECT_EQ(std::string(buffer, 8), std::string("ab\0\0\0\0gh", 8));
  wipe_memory(buffer, 0);
  EXPECT_EQ(buffer[0], 'a');
}

TEST(Wipe, SecretStringWipesItsSpareCapacityToo) {
  std::string text(64, 't');
  text.resize(8);  // a token of 8 octets in a buffer that once held 64
  SecretString secret(std::move(text));
  const char* buffer = secret.reveal().data();
  const size_t capacity = 64;
  secret.wipe();
  EXPECT_TRUE(secret.empty());
  ASSERT_EQ(secret.reveal().data(), buffer);
  for (size_t i = 0; i < capacity; ++i) ASSERT_EQ(buffer[i], 0) << "octet " << i;
}

}  // namespace
}  // namespace popgate
