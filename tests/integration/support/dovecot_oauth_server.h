// A private Dovecot whose oauth2 passdb validates JWT bearer tokens itself (local validation, HS256
// and RS256 keys from its own key directory) for SASL XOAUTH2 and OAUTHBEARER, next to the usual
// passwd-file passwords; and the minter of the tokens it accepts.
#pragma once

#include <filesystem>
#include <string_view>

#include "tests/integration/support/dovecot_server.h"
#include "tests/integration/support/jwt_minter.h"

namespace popgate::integration {

class DovecotOAuthServer {
 public:
  static constexpr std::string_view kIssuer = "https://issuer.popgate.test";
  // Dovecot's client_id: a token's "aud" must contain it.
  static constexpr std::string_view kAudience = "popgate-test";
  // Every word of it must be in a token's "scope"; also named in the XOAUTH2 error challenge.
  static constexpr std::string_view kScope = "mail";

  // Writes the keys and the oauth2 settings; add users on dovecot(), then call dovecot().start().
  // Must run as root (as DovecotServer).
  DovecotOAuthServer();

  DovecotServer& dovecot() { return dovecot_; }
  const JwtMinter& minter() const { return minter_; }
  // The HS256 secret in base64, one file (for a token endpoint that mints what Dovecot accepts).
  std::filesystem::path hs256_key_file() const;

 private:
  DovecotServer dovecot_;
  JwtMinter minter_;
};

}  // namespace popgate::integration
