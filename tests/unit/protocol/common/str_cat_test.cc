// str_cat: pieces of every kind joined in order, sized exactly.
#include "protocol/common/str_cat.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace popgate {
namespace {

TEST(StrCatTest, JoinsPiecesOfEveryKindInOrder) {
  const std::string owned = "host";
  const std::string_view view = "example";
  EXPECT_EQ(str_cat("[", owned, "]:", std::to_string(110), "/", view), "[host]:110/example");
}

TEST(StrCatTest, EmptyPiecesAndNoPieces) {
  EXPECT_EQ(str_cat("", std::string(), std::string_view()), "");
  EXPECT_EQ(str_cat(), "");
}

TEST(StrCatTest, KeepsNulOctets) {
  const std::string nul("a\0b", 3);
  EXPECT_EQ(str_cat(nul, nul), std::string("a\0ba\0b", 6));
}

}  // namespace
}  // namespace popgate
