// StaticSecret: answers on the next tick with its copy of the secret.
#include "gateway/identity/static_secret.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace popgate {
namespace {

class PendingStaticFetch final : public PendingFetch {
 public:
  explicit PendingStaticFetch(std::shared_ptr<CredentialSource::Done> done) : done_(std::move(done)) {}
  ~PendingStaticFetch() override { *done_ = nullptr; }

 private:
  std::shared_ptr<CredentialSource::Done> done_;
};

}  // namespace

PendingFetchPtr StaticSecret::fetch(Done done) {
  auto shared = std::make_shared<Done>(std::move(done));
  loop_.defer([shared, secret = secret_] {
    // Moved out first: the callback may destroy the handle.
    Done answer = std::move(*shared);
    *shared = nullptr;
    if (answer) answer(secret);
  });
  return std::make_unique<PendingStaticFetch>(std::move(shared));
}

Result<SecretString> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::Permanent, "cannot read " + path + ": " + std::strerror(errno));
  SecretString secret{std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())};
  std::string_view text = secret.reveal();
  size_t keep = text.size();
  if (keep > 0 && text[keep - 1] == '\n') --keep;
  if (keep > 0 && text[keep - 1] == '\r') --keep;
  if (keep == 0) return make_error(ErrorKind::Permanent, path + " is empty");
  return SecretString(text.substr(0, keep));
}

}  // namespace popgate
