// The popgate binary links BoringSSL (Android's libssl.so.0/libcrypto.so.0) and never OpenSSL 3:
// both export the same symbols, and a mix crashes or silently uses the wrong library.
#include <gtest/gtest.h>

#include "tests/integration/support/child_process.h"

namespace popgate::integration {
namespace {

TEST(TlsLinkage, PopgateLoadsBoringSslAndNotOpenSsl) {
  SpawnOptions options;
  options.argv = {find_program("ldd"), POPGATE_BINARY};
  const RunResult ldd = run_program(options, std::chrono::seconds(30));
  ASSERT_EQ(ldd.exit_code, 0) << ldd.err;
  EXPECT_NE(ldd.out.find("libssl.so.0 => /usr/lib/x86_64-linux-gnu/android/libssl.so.0"), std::string::npos)
      << ldd.out;
  EXPECT_NE(ldd.out.find("libcrypto.so.0 => /usr/lib/x86_64-linux-gnu/android/libcrypto.so.0"),
            std::string::npos)
      << ldd.out;
  EXPECT_EQ(ldd.out.find("libssl.so.3"), std::string::npos) << ldd.out;
  EXPECT_EQ(ldd.out.find("libcrypto.so.3"), std::string::npos) << ldd.out;
}

}  // namespace
}  // namespace popgate::integration
