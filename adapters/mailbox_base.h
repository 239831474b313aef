// MailboxBase: what both adapters' Mailboxes do alike (the end of open(), the mailbox key,
// completions run on a later tick unless the mailbox is gone), and their one factory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "adapters/mailbox.h"
#include "gateway/io/liveness.h"
#include "gateway/io/loop.h"

namespace popgate {

class MailboxBase : public Mailbox {
 protected:
  explicit MailboxBase(io::Loop& loop) : loop_(loop) {}

  // Ends open() or reopen(): forgets the login's secrets, then runs `open_done_`, once.
  void finish_open(Result<Snapshot> result);
  // Wipes what only the login needed; `opened` says whether later requests still need some.
  virtual void forget_login_secrets(bool opened) = 0;

  // Runs `fn` on a later tick unless this mailbox is gone by then: a completion never runs
  // inside the call that started it (mailbox.h).
  void run_later(std::function<void()> fn);
  void defer_done(Done done, Status status);

  // Upstream and user for the exclusive maildrop lock: "imap://host:143/alice/INBOX". Host and
  // user in lower case, so one maildrop has one key however the login spelt them.
  static std::string mailbox_key(std::string_view scheme, std::string_view host, uint16_t port,
                                 std::string_view user, std::string_view mailbox);

  io::Loop& loop_;
  OpenDone open_done_;  // while open() or reopen() runs
  // Adapters revoke it first thing in their destructors: no callback runs once one started.
  io::Liveness alive_;
};

// The factory of every adapter: one mailbox per session, made from the adapter's settings.
template <typename AdapterMailbox, typename Settings>
class AdapterMailboxFactory final : public MailboxFactory {
 public:
  AdapterMailboxFactory(io::Loop& loop, Settings settings) : loop_(loop), settings_(std::move(settings)) {}
  MailboxPtr create() override { return std::make_unique<AdapterMailbox>(loop_, settings_); }

 private:
  io::Loop& loop_;
  Settings settings_;
};

}  // namespace popgate
