// The MailboxFactory a configuration asks for: IMAP or JMAP, with the upstream's TLS context.
#pragma once

#include <memory>

#include "adapters/mailbox.h"
#include "gateway/config/config.h"
#include "gateway/io/loop.h"
#include "protocol/common/result.h"

namespace popgate {

// Fails (naming the file) when --upstream-ca cannot be read. Built at start-up, by
// --check-config and on SIGHUP. Mailboxes copy their settings when created and do not
// refer to the factory afterwards, so a factory may go while its mailboxes live on. With
// --upstream-reuse-time the factory keeps an UpstreamPool: it belongs to `loop`'s thread.
Result<std::shared_ptr<MailboxFactory>> make_mailbox_factory(io::Loop& loop, const Config& config);

}  // namespace popgate
