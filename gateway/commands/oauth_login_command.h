// `popgate oauth login CLIENT`: the headless bootstrap of an OAuth2 client's refresh token with
// the device authorization grant (RFC 8628), on a loop of its own.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace popgate {

// argv[0] is "oauth". Reads oauth2_clients and token_dir from --config FILE (or POPGATE_CONFIG),
// --token-dir DIR (or POPGATE_TOKEN_DIR) overriding; --ca-file FILE verifies the identity
// provider instead of the system bundle. Returns the exit status: 0 stored, 1 failed, 2 usage.
int run_oauth_command(int argc, const char* const* argv, const std::vector<std::string>& environment,
                      std::ostream& out, std::ostream& err);

}  // namespace popgate
