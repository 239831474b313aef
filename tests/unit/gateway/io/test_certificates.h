// Certificates for the TLS tests, made once per test process with the openssl command-line
// tool into a temporary directory that is removed at exit.
#pragma once

#include <string>

namespace popgate::io::testing {

struct TestCertificates {
  std::string dir;
  std::string error;  // why generation failed; empty when every file below exists

  std::string ca_cert;  // the root the clients trust: "popgate test CA"

  // Each pair is a PEM certificate (file) and its key, for DNS:localhost and IP:127.0.0.1
  // unless said otherwise.
  std::string server_cert, server_key;            // signed by the CA, valid 2020-2049
  std::string expired_cert, expired_key;          // signed by the CA, valid January 2020 only
  std::string wrong_host_cert, wrong_host_key;    // signed by the CA, for DNS:wrong.example only
  std::string unknown_ca_cert, unknown_ca_key;    // signed by a CA the clients do not trust
  std::string self_signed_cert, self_signed_key;  // its own issuer
  std::string chain_cert, chain_key;              // leaf + intermediate CA (signed by the CA) in one file
  std::string chain_leaf_only;                    // the same leaf without its intermediate
  std::string other_key;                          // matches none of the certificates
  std::string garbage;                            // a file of text that is no PEM at all
};

// Generated on first use; later calls return the same files. Tests ASSERT that `error` is empty.
const TestCertificates& test_certificates();

}  // namespace popgate::io::testing
