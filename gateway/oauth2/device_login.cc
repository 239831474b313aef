// DeviceLogin: RFC 8628 §3.1-§3.5, from the user code to the stored refresh token.
#include "gateway/oauth2/device_login.h"

#include "gateway/log.h"

namespace popgate::oauth2 {
namespace {

ClientAuthentication authentication(const OAuth2ClientConfig& client) {
  return {client.client_id, client.client_secret, client.signer};
}

}  // namespace

DeviceLogin::DeviceLogin(io::Loop& loop, const OAuth2ClientConfig& client, std::string token_dir,
                         std::shared_ptr<io::TlsClientContext> tls, std::ostream& out,
                         DeviceLoginOptions options)
    : loop_(loop),
      client_(client),
      out_(out),
      options_(options),
      store_(loop, std::move(token_dir)),
      timer_(loop) {
  if (auto url = io::HttpUrl::parse(client.device_authorization_endpoint)) {
    device_endpoint_ =
        std::make_unique<TokenEndpoint>(loop, *url, tls, authentication(client), options_.request_timeout_ms);
  }
  if (auto url = io::HttpUrl::parse(client.token_endpoint)) {
    token_endpoint_ =
        std::make_unique<TokenEndpoint>(loop, *url, tls, authentication(client), options_.request_timeout_ms);
  }
}

DeviceLogin::~DeviceLogin() = default;

void DeviceLogin::start(Done done) {
  done_ = std::move(done);
  if (!device_endpoint_ || !token_endpoint_) {
    loop_.defer([this, alive = alive_.watch()] {
      if (!alive) return;
      finish(make_error(ErrorKind::Permanent,
                        "oauth2_clients." + client_.name + " has no device_authorization_endpoint"));
    });
    return;
  }
  device_endpoint_->authorize_device(client_.scope, [this](Result<DeviceAuthorization> result) {
    if (!result) return finish(result.error());
    DeviceAuthorization& authorization = result.value();
    device_code_ = std::move(authorization.device_code);
    interval_s_ = authorization.interval_s;
    if (authorization.expires_in_s > 0)
      deadline_ms_ = loop_.now_ms() + authorization.expires_in_s * options_.second_ms;
    // §3.3: what the user must do. Codes are not secrets: they are useless without the user's login.
    out_ << "To authorize popgate for " << client_.name << ", open "
         << log::sanitize(authorization.verification_uri) << " and enter the code "
         << log::sanitize(authorization.user_code, 40) << "\n";
    if (!authorization.verification_uri_complete.empty())
      out_ << "(or open " << log::sanitize(authorization.verification_uri_complete, 400) << ")\n";
    out_ << "Waiting for the authorization";
    if (authorization.expires_in_s > 0)
      out_ << " (the code expires in " << authorization.expires_in_s << " s)";
    out_ << "...\n";
    out_.flush();
    schedule_poll();
  });
}

void DeviceLogin::schedule_poll() {
  timer_.start(interval_s_ * options_.second_ms, [this] { poll(); });
}

void DeviceLogin::poll() {
  token_endpoint_->poll_device_code(device_code_, [this](Result<TokenResponse> result) {
    if (!result) {
      // §3.5: a network failure is worth retrying while the code lives; a slow_down is implied.
      if (result.error().kind == ErrorKind::Temporary &&
          (deadline_ms_ == 0 || loop_.now_ms() < deadline_ms_)) {
        interval_s_ += options_.slow_down_increment_s;
        return schedule_poll();
      }
      return finish(result.error());
    }
    TokenResponse& response = result.value();
    if (response.tokens) {
      if (response.tokens->refresh_token.empty()) {
        return finish(make_error(ErrorKind::Permanent,
                                 "the token endpoint issued no refresh token (Microsoft needs the scope "
                                 "offline_access; Google issues one for the device flow)"));
      }
      if (shared_) {
        StoredTokens tokens;
        tokens.refresh_token = std::move(response.tokens->refresh_token);
        return shared_->overwrite(client_.name, tokens, [this](Result<bool> stored) {
          if (!stored)
            return finish(make_error(ErrorKind::Temporary, "the state store: " + stored.error().detail));
          out_ << "Refresh token stored in the state store, sealed; every replica uses it from its next "
                  "refresh\n";
          finish(Ok{});
        });
      }
      return store_.save(client_.name, std::move(response.tokens->refresh_token), [this](Status saved) {
        if (!saved) return finish(saved);
        out_ << "Refresh token stored in " << token_file_path(store_.dir(), client_.name) << "\n";
        finish(Ok{});
      });
    }
    switch (response.error) {
      case TokenErrorCode::AuthorizationPending:
        return schedule_poll();
      case TokenErrorCode::SlowDown:
        interval_s_ += options_.slow_down_increment_s;
        return schedule_poll();
      case TokenErrorCode::ExpiredToken:
        return finish(make_error(ErrorKind::Permanent,
                                 "the code expired before it was entered; run the command again"));
      case TokenErrorCode::AccessDenied:
        return finish(make_error(ErrorKind::Permanent, "the authorization was denied"));
      default:
        return finish(
            make_error(ErrorKind::Permanent,
                       "token endpoint refused: " + response.error_name +
                           (response.description.empty() ? "" : " (" + response.description + ")")));
    }
  });
}

void DeviceLogin::finish(Status status) {
  timer_.stop();
  device_code_.wipe();
  if (done_) std::exchange(done_, nullptr)(std::move(status));
}

}  // namespace popgate::oauth2
