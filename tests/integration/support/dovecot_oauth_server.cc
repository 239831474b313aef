// A private Dovecot whose oauth2 passdb validates JWT bearer tokens itself (local validation, HS256
// and RS256 keys from its own key directory) for SASL XOAUTH2 and OAUTHBEARER, next to the usual
// passwd-file passwords; and the minter of the tokens it accepts.
#include "tests/integration/support/dovecot_oauth_server.h"

#include <grp.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <system_error>

#include "tests/integration/support/temp_dir.h"

namespace popgate::integration {
namespace {

namespace fs = std::filesystem;

// The auth process runs as `dovecot`: the keys are for that group only.
void give_to_dovecot_group(const fs::path& path, fs::perms perms) {
  const group* dovecot = ::getgrnam("dovecot");
  if (dovecot == nullptr) throw std::runtime_error("no 'dovecot' group: is dovecot-core installed?");
  if (::chown(path.c_str(), 0, dovecot->gr_gid) != 0) {
    throw std::system_error(errno, std::generic_category(), "chown " + path.string());
  }
  fs::permissions(path, perms);
}

fs::path key_dir(const DovecotServer& dovecot) {
  return dovecot.dir() / "keys";
}

}  // namespace

DovecotOAuthServer::DovecotOAuthServer()
    : minter_(std::string(kIssuer), std::string(kAudience), std::string(kScope)) {
  // Dovecot 2.3.19 looks a key up as shared/<azp>/<alg>/<kid>; the fs dict maps that to the file
  // keys/<azp>/<alg>/<kid>, and a token without "azp" uses "default". HS* keys are base64, RS* PEM.
  const fs::path keys = key_dir(dovecot_);
  const fs::path hs256 = keys / "default" / "HS256";
  const fs::path rs256 = keys / "default" / "RS256";
  fs::create_directories(hs256);
  fs::create_directories(rs256);
  write_file(hs256_key_file(), minter_.hs256_secret_base64());
  write_file(rs256 / std::string(JwtMinter::kRs256KeyId), minter_.rs256_public_key_pem());
  const fs::perms dir_perms = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec;
  const fs::perms file_perms = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read;
  for (const fs::path& dir : {keys, keys / "default", hs256, rs256}) give_to_dovecot_group(dir, dir_perms);
  give_to_dovecot_group(hs256_key_file(), file_perms);
  give_to_dovecot_group(rs256 / std::string(JwtMinter::kRs256KeyId), file_perms);

  const fs::path settings = dovecot_.dir() / "dovecot-oauth2.conf.ext";
  write_file(settings,
             "introspection_mode = local\n"
             "local_validation_key_dict = fs:posix:prefix=" +
                 keys.string() +
                 "/\n"
                 // compared, lower-cased, with the SASL user (XOAUTH2 user=, OAUTHBEARER a=)
                 "username_attribute = sub\n"
                 "issuers = " +
                 std::string(kIssuer) +
                 "\n"
                 // this Debian build checks that "aud" contains client_id
                 "client_id = " +
                 std::string(kAudience) +
                 "\n"
                 "scope = " +
                 std::string(kScope) + "\n");
  dovecot_.enable_oauth2(settings);
}

fs::path DovecotOAuthServer::hs256_key_file() const {
  return key_dir(dovecot_) / "default" / "HS256" / std::string(JwtMinter::kHs256KeyId);
}

}  // namespace popgate::integration
