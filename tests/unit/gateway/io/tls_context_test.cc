// TlsServerContext::load and TlsClientContext::create: good files load, and every bad one
// fails with a line that names the file and the problem.
#include "gateway/io/tls_context.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/gateway/io/test_certificates.h"

namespace popgate::io {
namespace {

using testing::test_certificates;
using testing::TestCertificates;

const TestCertificates& certs() {
  const TestCertificates& c = test_certificates();
  EXPECT_EQ(c.error, "");
  return c;
}

std::string load_error(const std::string& cert, const std::string& key) {
  Result<std::shared_ptr<TlsServerContext>> result = TlsServerContext::load(cert, key);
  if (result.ok()) return "(loaded)";
  EXPECT_EQ(result.error().kind, ErrorKind::Permanent);
  return result.error().detail;
}

TEST(TlsServerContext, LoadsAMatchingPair) {
  const TestCertificates& c = certs();
  Result<std::shared_ptr<TlsServerContext>> result = TlsServerContext::load(c.server_cert, c.server_key);
  ASSERT_TRUE(result.ok()) << result.error().detail;
  ASSERT_NE(result.value()->get(), nullptr);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(result.value()->get()), TLS1_2_VERSION);
}

TEST(TlsServerContext, LoadsAFullChain) {
  const TestCertificates& c = certs();
  Result<std::shared_ptr<TlsServerContext>> result = TlsServerContext::load(c.chain_cert, c.chain_key);
  ASSERT_TRUE(result.ok()) << result.error().detail;
  STACK_OF(X509)* chain = nullptr;
  ASSERT_TRUE(SSL_CTX_get0_chain_certs(result.value()->get(), &chain));
  ASSERT_NE(chain, nullptr);
  EXPECT_EQ(sk_X509_num(chain), 1u);  // the intermediate after the leaf
}

TEST(TlsServerContext, MissingCertificateFileIsNamed) {
  const TestCertificates& c = certs();
  const std::string missing = c.dir + "/missing.pem";
  std::string error = load_error(missing, c.server_key);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "tls-cert " + missing + ": cannot read", error);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "No such file", error);
}

TEST(TlsServerContext, MissingKeyFileIsNamed) {
  const TestCertificates& c = certs();
  const std::string missing = c.dir + "/missing.key";
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "tls-key " + missing + ": cannot read",
                      load_error(c.server_cert, missing));
}

TEST(TlsServerContext, GarbageCertificateFile) {
  const TestCertificates& c = certs();
  EXPECT_EQ(load_error(c.garbage, c.server_key), "tls-cert " + c.garbage + ": no certificate found");
}

TEST(TlsServerContext, KeyFileGivenAsCertificate) {
  const TestCertificates& c = certs();
  EXPECT_EQ(load_error(c.server_key, c.server_key), "tls-cert " + c.server_key + ": no certificate found");
}

TEST(TlsServerContext, GarbageKeyFile) {
  const TestCertificates& c = certs();
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "tls-key " + c.garbage + ": no private key found",
                      load_error(c.server_cert, c.garbage));
}

TEST(TlsServerContext, CertificateGivenAsKey) {
  const TestCertificates& c = certs();
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "tls-key " + c.server_cert + ": no private key found",
                      load_error(c.server_cert, c.server_cert));
}

TEST(TlsServerContext, KeyNotMatchingTheCertificate) {
  const TestCertificates& c = certs();
  EXPECT_EQ(load_error(c.server_cert, c.other_key),
            "tls-key " + c.other_key + ": does not match the certificate in " + c.server_cert);
  // The chain's leaf and the intermediate's key: still the leaf's key that counts.
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "does not match the certificate",
                      load_error(c.chain_cert, c.server_key));
}

TEST(TlsServerContext, DamagedChainCertificate) {
  const TestCertificates& c = certs();
  const std::string damaged = c.dir + "/damaged-chain.pem";
  {
    std::ifstream leaf(c.server_cert);
    std::ofstream out(damaged);
    out << leaf.rdbuf() << "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n";
  }
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "tls-cert " + damaged + ": damaged certificate",
                      load_error(damaged, c.server_key));
}

TEST(TlsServerContext, EmptyCertificateFile) {
  const TestCertificates& c = certs();
  const std::string empty = c.dir + "/empty.pem";
  std::ofstream{empty};
  EXPECT_EQ(load_error(empty, c.server_key), "tls-cert " + empty + ": no certificate found");
}

TEST(TlsClientContext, VerifiesWithAGivenCaFile) {
  const TestCertificates& c = certs();
  Result<std::shared_ptr<TlsClientContext>> result = TlsClientContext::create({.ca_file = c.ca_cert});
  ASSERT_TRUE(result.ok()) << result.error().detail;
  EXPECT_TRUE(result.value()->verify());
  EXPECT_EQ(SSL_CTX_get_verify_mode(result.value()->get()), SSL_VERIFY_PEER);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(result.value()->get()), TLS1_2_VERSION);
}

TEST(TlsClientContext, UsesTheSystemBundleByDefault) {
  if (!std::filesystem::exists("/etc/ssl/certs/ca-certificates.crt")) GTEST_SKIP() << "no system CA bundle";
  Result<std::shared_ptr<TlsClientContext>> result = TlsClientContext::create({});
  ASSERT_TRUE(result.ok()) << result.error().detail;
  EXPECT_TRUE(result.value()->verify());
}

TEST(TlsClientContext, MissingCaFileIsNamed) {
  const TestCertificates& c = certs();
  const std::string missing = c.dir + "/missing-ca.pem";
  Result<std::shared_ptr<TlsClientContext>> result = TlsClientContext::create({.ca_file = missing});
  ASSERT_FALSE(result.ok());
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "tls-ca " + missing + ": cannot read", result.error().detail);
}

TEST(TlsClientContext, GarbageCaFile) {
  const TestCertificates& c = certs();
  Result<std::shared_ptr<TlsClientContext>> result = TlsClientContext::create({.ca_file = c.garbage});
  ASSERT_FALSE(result.ok());
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "tls-ca " + c.garbage + ": no usable CA certificate found",
                      result.error().detail);
}

TEST(TlsClientContext, InsecureNeedsNoCaFile) {
  Result<std::shared_ptr<TlsClientContext>> result =
      TlsClientContext::create({.ca_file = "/nonexistent/ca.pem", .verify = false});
  ASSERT_TRUE(result.ok()) << result.error().detail;
  EXPECT_FALSE(result.value()->verify());
  EXPECT_EQ(SSL_CTX_get_verify_mode(result.value()->get()), SSL_VERIFY_NONE);
}

}  // namespace
}  // namespace popgate::io
