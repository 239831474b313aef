// HttpResponseHead: header lookup.
#include "gateway/io/http_message.h"

#include <gtest/gtest.h>

namespace popgate::io {
namespace {

TEST(HttpResponseHead, HeaderLookupIsCaseInsensitiveAndFirstWins) {
  HttpResponseHead head;
  head.headers = {{"Content-Type", "application/json"}, {"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}};
  EXPECT_EQ(head.header("content-type"), "application/json");
  EXPECT_EQ(head.header("SET-COOKIE"), "a=1");
  EXPECT_FALSE(head.header("Location").has_value());
}

}  // namespace
}  // namespace popgate::io
