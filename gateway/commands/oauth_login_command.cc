// `popgate oauth login CLIENT`: arguments, the config file's OAuth2 part, and a DeviceLogin run.
#include "gateway/commands/oauth_login_command.h"

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "gateway/admin/metrics.h"
#include "gateway/config/config.h"
#include "gateway/io/loop.h"
#include "gateway/io/tls_context.h"
#include "gateway/oauth2/device_login.h"
#include "gateway/oauth2/oauth2_config.h"
#include "gateway/state/state_store.h"

namespace popgate {
namespace {

constexpr const char* kUsage =
    "Usage: popgate oauth login CLIENT [--config FILE] [--token-dir DIR] [--ca-file FILE]\n"
    "Runs the OAuth2 device authorization grant for the client CLIENT of the config file's\n"
    "\"oauth2_clients\" and stores its refresh token in the token directory, or, when the config\n"
    "file names a shared state store, sealed in the store for every replica.\n";

std::optional<std::string> environment_value(const std::vector<std::string>& environment,
                                             std::string_view name) {
  for (const std::string& entry : environment) {
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
      return entry.substr(name.size() + 1);
  }
  return std::nullopt;
}

// The config file's OAuth2 fields; the rest of it is popgate's server settings, unused here.
oauth2::OAuth2Config load_oauth2_part(const std::string& config_file, std::string token_dir) {
  std::string clients_json;
  std::string file_token_dir;
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in) throw ConfigError("config: cannot read " + config_file);
    nlohmann::json root = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!root.is_object()) throw ConfigError("config: " + config_file + " is not a JSON object");
    if (auto it = root.find("oauth2_clients"); it != root.end()) clients_json = it->dump();
    if (auto it = root.find("token_dir"); it != root.end() && it->is_string())
      file_token_dir = it->get<std::string>();
  }
  return oauth2::parse_oauth2_config(clients_json, token_dir.empty() ? file_token_dir : token_dir);
}

// The server's own settings (the config file and POPGATE_* variables, as popgate reads them) when
// they name a shared state store: null for the local one. Throws ConfigError.
std::unique_ptr<StateStore> open_state_store(const std::string& config_file,
                                             const std::vector<std::string>& environment, Metrics& metrics) {
  if (config_file.empty() && !environment_value(environment, "POPGATE_STATE_STORE")) return nullptr;
  std::vector<const char*> argv = {"popgate"};
  if (!config_file.empty()) argv.insert(argv.end(), {"--config", config_file.c_str()});
  // The upstream is the server's business, not this command's: any will do for the parse.
  argv.insert(argv.end(), {"--upstream", "imap://127.0.0.1:1"});
  Config server;
  std::string ignored;
  parse_command_line(static_cast<int>(argv.size()), argv.data(), environment, server, ignored);
  if (!server.state_store.shared()) return nullptr;
  if (server.state_store_key_file.empty()) {
    throw ConfigError("state-store-key-file: required to keep OAuth2 tokens in the state store");
  }
  auto state = StateStore::create(server, metrics);
  if (!state) throw ConfigError(state.error().detail);
  return std::move(state).value();
}

}  // namespace

int run_oauth_command(int argc, const char* const* argv, const std::vector<std::string>& environment,
                      std::ostream& out, std::ostream& err) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "login") {
    err << "popgate oauth: unknown command '" << std::string(args[0]) << "'\n" << kUsage;
    return 2;
  }
  std::string client_name, config_file, token_dir, ca_file;
  config_file = environment_value(environment, "POPGATE_CONFIG").value_or("");
  token_dir = environment_value(environment, "POPGATE_TOKEN_DIR").value_or("");
  for (size_t i = 1; i < args.size(); ++i) {
    auto value = [&](const char* option) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        err << "popgate oauth login: " << option << " needs a value\n";
        return std::nullopt;
      }
      return std::string(args[++i]);
    };
    std::optional<std::string> got;
    if (args[i] == "--config") {
      if (!(got = value("--config"))) return 2;
      config_file = *got;
    } else if (args[i] == "--token-dir") {
      if (!(got = value("--token-dir"))) return 2;
      token_dir = *got;
    } else if (args[i] == "--ca-file") {
      if (!(got = value("--ca-file"))) return 2;
      ca_file = *got;
    } else if (!args[i].starts_with("-") && client_name.empty()) {
      client_name = std::string(args[i]);
    } else {
      err << "popgate oauth login: unexpected argument '" << std::string(args[i]) << "'\n" << kUsage;
      return 2;
    }
  }
  if (client_name.empty()) {
    err << kUsage;
    return 2;
  }
  oauth2::OAuth2Config config;
  try {
    config = load_oauth2_part(config_file, token_dir);
  } catch (const ConfigError& error) {
    err << "popgate: " << error.what() << "\n";
    return 2;
  }
  auto client = config.clients.find(client_name);
  if (client == config.clients.end()) {
    err << "popgate: no OAuth2 client named '" << client_name << "' in oauth2_clients"
        << (config_file.empty() ? " (give --config FILE)" : "") << "\n";
    return 2;
  }
  // With a shared state store in the server's settings, the token goes there, for every replica.
  Metrics metrics;
  std::unique_ptr<StateStore> state;
  try {
    state = open_state_store(config_file, environment, metrics);
  } catch (const ConfigError& error) {
    err << "popgate: " << error.what() << "\n";
    return 2;
  }
  if (config.token_dir.empty() && !state) {
    err << "popgate: no token directory (token_dir in the config file, or --token-dir)\n";
    return 2;
  }
  auto tls = io::TlsClientContext::create({ca_file, true});
  if (!tls) {
    err << "popgate: " << tls.error().detail << "\n";
    return 2;
  }
  io::Loop loop;
  LoopStateStorePtr loop_state = state ? state->for_loop(loop) : nullptr;
  oauth2::DeviceLogin login(loop, client->second, config.token_dir, std::move(tls).value(), out);
  if (loop_state) login.keep_in(loop_state->oauth_tokens());
  int status = 1;
  login.start([&](Status done) {
    if (done) {
      status = 0;
    } else {
      err << "popgate oauth login " << client_name << ": " << done.error().detail << "\n";
    }
    loop.stop();
  });
  loop.run();
  return status;
}

}  // namespace popgate
