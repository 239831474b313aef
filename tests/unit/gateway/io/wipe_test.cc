// wipe / wipe_front: what is left is right, and what went is zero in the buffer itself.
#include "gateway/io/wipe.h"

#include <gtest/gtest.h>

#include <string>

namespace popgate::io {
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

}  // namespace
}  // namespace popgate::io
