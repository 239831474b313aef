// Password hashes (libxcrypt) and PasswordVerifier: accepted and refused formats, known answers,
// one hash per verification whichever path, cancellation, and `popgate hash-password`.
#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <vector>

#include "gateway/commands/hash_password_command.h"
#include "gateway/identity/password_hash.h"
#include "gateway/identity/password_verifier.h"

namespace popgate {
namespace {

// Known answers made with Python's crypt module (the same libxcrypt, independently driven).
constexpr const char* kYescryptPw =
    "$y$j9T$6k3xCOCMy6NdTigeW5smE0$VQGwCGekIYfvxW1WPRSkGsOXwEk2fKO/LC0/1aPsbF6";
constexpr const char* kBcryptHorse = "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e";
constexpr const char* kSha512Horse =
    "$6$saltsaltsalt$Cy2drr8kDRji6smvDcT28wkqtq0R0VzVL5CkrjPQCITc5d/31j94knt9rGTcVSyjLXfjsiIsBh5ee8qR/3QDx1";
constexpr const char* kSha512RoundsHorse =
    "$6$rounds=6000$saltsaltsalt$SoP7b5KYKRoq610DP.O4cLXCfVOG7EGut/Ftr6CIiKB8bF30AEo.4e6VBAL0lHIv3wlYyPUSF/"
    "vrBO0BDT5Yv1";

// Runs one verification to its end on a real loop and threadpool.
bool verify_now(io::Loop& loop, PasswordVerifier& verifier, std::string_view password, std::string hash,
                bool refuse = false) {
  std::optional<bool> answer;
  auto done = [&](bool matches) { answer = matches; };
  auto pending = refuse ? verifier.verify_and_refuse(SecretString(password), std::move(hash), done)
                        : verifier.verify(SecretString(password), std::move(hash), done);
  EXPECT_FALSE(answer.has_value()) << "answered inside the call";
  loop.run();
  EXPECT_TRUE(answer.has_value());
  return answer.value_or(false);
}

TEST(PasswordHash, KnownAnswersOfEveryAcceptedMethodVerify) {
  io::Loop loop;
  PasswordVerifier verifier(loop);
  for (const char* hash : {kBcryptHorse, kSha512Horse, kSha512RoundsHorse}) {
    EXPECT_TRUE(check_password_hash(hash)) << hash;
    EXPECT_TRUE(verify_now(loop, verifier, "correct horse", hash)) << hash;
    EXPECT_FALSE(verify_now(loop, verifier, "correct horsE", hash)) << hash;
  }
  EXPECT_TRUE(check_password_hash(kYescryptPw));
  EXPECT_TRUE(verify_now(loop, verifier, "pw", kYescryptPw));
  EXPECT_FALSE(verify_now(loop, verifier, "pW", kYescryptPw));
  EXPECT_FALSE(verify_now(loop, verifier, "", kYescryptPw));
}

TEST(PasswordHash, FreshHashesOfEachMethodVerifyAndDiffer) {
  io::Loop loop;
  PasswordVerifier verifier(loop);
  for (HashMethod method : {HashMethod::Yescrypt, HashMethod::Bcrypt, HashMethod::Sha512Crypt}) {
    auto first = make_password_hash(SecretString("s3cret"), method);
    auto second = make_password_hash(SecretString("s3cret"), method);
    ASSERT_TRUE(first && second) << to_string(method);
    EXPECT_NE(first.value(), second.value()) << "salts must differ";
    EXPECT_TRUE(check_password_hash(first.value())) << first.value();
    EXPECT_TRUE(verify_now(loop, verifier, "s3cret", first.value()));
    EXPECT_FALSE(verify_now(loop, verifier, "s3cre", first.value()));
  }
  EXPECT_TRUE(make_password_hash(SecretString("x"), HashMethod::Yescrypt).value().starts_with("$y$"));
  EXPECT_TRUE(make_password_hash(SecretString("x"), HashMethod::Bcrypt).value().starts_with("$2b$10$"));
  EXPECT_TRUE(make_password_hash(SecretString("x"), HashMethod::Sha512Crypt).value().starts_with("$6$"));
}

TEST(PasswordHash, WeakAndMalformedHashesAreRefusedByName) {
  struct Case {
    const char* hash;
    const char* says;
  };
  const Case cases[] = {
      {"$1$saltsalt$NuzA7WTAelpl95xgBGWN60", "MD5"},
      {"abhfCpXqd4GrI", "DES"},
      {"$5$saltsalt$abc", "sha256-crypt"},
      {"$2a$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e", "$2a$"},
      {"plaintext-password", "DES"},
      {"$y$j9T$6k3xCOCMy6NdTigeW5smE0$VQGwCGekIYfvxW1WPRSk", "wrong length"},
      {"$6$saltsaltsalt$", "malformed"},
      {"$9$nothing", "not a yescrypt"},
      {"", "not a yescrypt"},
  };
  for (const auto& c : cases) {
    Status checked = check_password_hash(c.hash);
    ASSERT_FALSE(checked) << c.hash;
    EXPECT_NE(checked.error().detail.find(c.says), std::string::npos)
        << c.hash << ": " << checked.error().detail;
  }
}

TEST(PasswordHash, ParametersNameMethodAndCost) {
  EXPECT_EQ(hash_parameters(kYescryptPw), "$y$j9T$");
  EXPECT_EQ(hash_parameters(kBcryptHorse), "$2b$04$");
  EXPECT_EQ(hash_parameters(kSha512Horse), "$6$");
  EXPECT_EQ(hash_parameters(kSha512RoundsHorse), "$6$rounds=6000$");
}

// An injected hasher records what it was asked: the unknown-user path must do the same work.
TEST(PasswordVerifier, RefusalRunsExactlyOneHashUnderTheGivenSettingAndSaysNo) {
  io::Loop loop;
  std::mutex mutex;
  std::vector<std::string> settings;
  PasswordVerifier verifier(loop, [&](const SecretString& password, const std::string& setting) {
    std::lock_guard lock(mutex);
    settings.push_back(setting);
    return crypt_hash(password, setting);
  });
  // Even the right password is refused on this path.
  EXPECT_FALSE(verify_now(loop, verifier, "correct horse", kBcryptHorse, /*refuse=*/true));
  EXPECT_FALSE(verify_now(loop, verifier, "wrong", kBcryptHorse, /*refuse=*/false));
  EXPECT_TRUE(verify_now(loop, verifier, "correct horse", kBcryptHorse, /*refuse=*/false));
  ASSERT_EQ(settings.size(), 3u);
  EXPECT_EQ(settings[0], kBcryptHorse);
  EXPECT_EQ(settings[1], kBcryptHorse);
  EXPECT_EQ(verifier.hashes_computed(), 3u);
}

TEST(PasswordVerifier, DestroyingTheHandleCancelsTheAnswer) {
  io::Loop loop;
  PasswordVerifier verifier(loop);
  bool answered = false;
  auto pending = verifier.verify(SecretString("pw"), kYescryptPw, [&](bool) { answered = true; });
  pending.reset();
  loop.run();
  EXPECT_FALSE(answered);
  EXPECT_EQ(verifier.hashes_computed(), 1u);  // the hash ran; its answer was dropped
}

TEST(PasswordVerifier, TheCallbackMayDestroyItsOwnHandle) {
  io::Loop loop;
  PasswordVerifier verifier(loop);
  PendingVerificationPtr pending;
  std::optional<bool> answer;
  pending = verifier.verify(SecretString("pw"), kYescryptPw, [&](bool matches) {
    pending.reset();
    answer = matches;
  });
  loop.run();
  EXPECT_EQ(answer, std::optional<bool>(true));
}

// Wrong user (dummy hash of the usual parameters, refused) against wrong password (the real
// hash): the two distributions of durations must overlap. No absolute threshold: the check is
// that neither median lies outside the other's spread, with a factor for scheduling noise.
TEST(PasswordVerifier, UnknownUserTakesAsLongAsAWrongPassword) {
  io::Loop loop;
  PasswordVerifier verifier(loop);
  const std::string real = make_password_hash(SecretString("right"), HashMethod::Yescrypt).value();
  // What Accounts uses as its dummy: another hash with the same parameters.
  const std::string dummy = make_password_hash(SecretString("other"), HashMethod::Yescrypt).value();
  ASSERT_EQ(hash_parameters(real), hash_parameters(dummy));
  auto sample = [&](bool unknown_user) {
    const uint64_t began = uv_hrtime();
    std::optional<bool> answer;
    auto pending = unknown_user
                       ? verifier.verify_and_refuse(SecretString("guess"), dummy, [&](bool m) { answer = m; })
                       : verifier.verify(SecretString("guess"), real, [&](bool m) { answer = m; });
    loop.run();
    EXPECT_EQ(answer, std::optional<bool>(false));
    return static_cast<double>(uv_hrtime() - began);
  };
  std::vector<double> wrong_user, wrong_password;
  for (int i = 0; i < 30; ++i) {  // interleaved, so drift in machine load hits both alike
    wrong_user.push_back(sample(true));
    wrong_password.push_back(sample(false));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double a = median(wrong_user), b = median(wrong_password);
  EXPECT_LT(a, b * 1.5) << "unknown user " << a << " ns, wrong password " << b << " ns";
  EXPECT_LT(b, a * 1.5) << "unknown user " << a << " ns, wrong password " << b << " ns";
  // Mann-Whitney U: the share of pairs where the unknown-user sample is the slower one. Equal
  // distributions give 0.5; a systematic difference pushes it towards 0 or 1.
  double greater = 0;
  for (double x : wrong_user) {
    for (double y : wrong_password) greater += x > y ? 1.0 : x == y ? 0.5 : 0.0;
  }
  const double share = greater / (wrong_user.size() * wrong_password.size());
  EXPECT_GT(share, 0.15);
  EXPECT_LT(share, 0.85);
}

int hash_password(std::vector<const char*> args, const std::string& input, std::string& out,
                  std::string& err) {
  args.insert(args.begin(), "hash-password");
  std::istringstream in(input);
  std::ostringstream o, e;
  int status = run_hash_password_command(static_cast<int>(args.size()), args.data(), in, o, e);
  out = o.str();
  err = e.str();
  return status;
}

TEST(HashPasswordCommand, PrintsAHashThatVerifiesForEachMethod) {
  io::Loop loop;
  PasswordVerifier verifier(loop);
  std::string out, err;
  ASSERT_EQ(hash_password({}, "tiger\n", out, err), 0) << err;
  ASSERT_TRUE(out.starts_with("$y$")) << out;
  ASSERT_TRUE(out.ends_with("\n"));
  EXPECT_TRUE(verify_now(loop, verifier, "tiger", out.substr(0, out.size() - 1)));
  for (const char* method : {"bcrypt", "sha512-crypt", "yescrypt"}) {
    ASSERT_EQ(hash_password({"--method", method}, "tiger\r\n", out, err), 0) << err;
    std::string hash = out.substr(0, out.size() - 1);
    EXPECT_TRUE(check_password_hash(hash)) << hash;
    EXPECT_TRUE(verify_now(loop, verifier, "tiger", hash)) << method;
  }
}

TEST(HashPasswordCommand, PasswordStdinHashesEveryLine) {
  io::Loop loop;
  PasswordVerifier verifier(loop);
  std::string out, err;
  ASSERT_EQ(hash_password({"--password-stdin", "--method=sha512-crypt"}, "one\ntwo\n", out, err), 0) << err;
  std::istringstream lines(out);
  std::string first, second;
  ASSERT_TRUE(std::getline(lines, first) && std::getline(lines, second));
  EXPECT_TRUE(verify_now(loop, verifier, "one", first));
  EXPECT_TRUE(verify_now(loop, verifier, "two", second));
  EXPECT_FALSE(verify_now(loop, verifier, "one", second));
}

TEST(HashPasswordCommand, UsageErrorsAndEmptyInput) {
  std::string out, err;
  EXPECT_EQ(hash_password({"--method", "md5"}, "x\n", out, err), 2);
  EXPECT_NE(err.find("yescrypt, bcrypt or sha512-crypt"), std::string::npos);
  EXPECT_EQ(hash_password({"--bogus"}, "x\n", out, err), 2);
  EXPECT_EQ(hash_password({}, "", out, err), 1);
  EXPECT_EQ(hash_password({}, "\n", out, err), 1);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace popgate
