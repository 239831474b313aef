// Keeps the protocol test binary non-empty while the suites land.
#include <gtest/gtest.h>

#include "protocol/common/secret.h"

TEST(SecretString, WipesOnMove) {
  popgate::SecretString a("hunter2");
  popgate::SecretString b(std::move(a));
  EXPECT_EQ(b.reveal(), "hunter2");
  EXPECT_TRUE(a.empty());
}
