// MailboxBase: the end of open(), later completions and the mailbox key, for both adapters.
#include "adapters/mailbox_base.h"

#include "protocol/common/ascii.h"

namespace popgate {

void MailboxBase::finish_open(Result<Snapshot> result) {
  OpenDone done = std::move(open_done_);
  open_done_ = nullptr;
  forget_login_secrets(result.ok());
  if (done) done(std::move(result));
}

void MailboxBase::run_later(std::function<void()> fn) {
  loop_.defer([alive = alive_.watch(), fn = std::move(fn)] {
    if (!alive) return;
    fn();
  });
}

void MailboxBase::defer_done(Done done, Status status) {
  run_later([done = std::move(done), status = std::move(status)]() mutable { done(std::move(status)); });
}

std::string MailboxBase::mailbox_key(std::string_view scheme, std::string_view host, uint16_t port,
                                     std::string_view user, std::string_view mailbox) {
  return std::string(scheme) + "://" + ascii::lower(host) + ":" + std::to_string(port) + "/" +
         ascii::lower(user) + "/" + std::string(mailbox);
}

}  // namespace popgate
