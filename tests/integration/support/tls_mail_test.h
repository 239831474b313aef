// The TLS tests' fixture: MailTest plus the test certificates, popgate with STLS and an implicit-TLS
// listener, Dovecot with ssl = yes, and the Python TLS clients under clients/.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/support/child_process.h"
#include "tests/integration/support/mail_test.h"
#include "tests/integration/support/tls_pop3_client.h"
#include "tests/unit/gateway/io/test_certificates.h"

namespace popgate::integration {

using io::testing::TestCertificates;

class TlsMailTest : public MailTest {
 protected:
  void SetUp() override;

  // The CA, the server certificate (DNS:localhost, IP:127.0.0.1) and the bad ones; made with the
  // openssl command once per test process.
  const TestCertificates& certs() const { return *certs_; }

  // Like start_dovecot(), with ssl = yes: STARTTLS on the imap port and an imaps port.
  void start_tls_dovecot(std::vector<CorpusMessage> corpus, const std::string& cert, const std::string& key);
  // popgate with --tls-cert/--tls-key (the server certificate unless given) and an implicit-TLS
  // listener (popgate_->tls_port()), in front of Dovecot's plain IMAP port unless options.upstream.
  void start_tls_popgate(std::vector<std::string> args = {}, PopgateOptions options = {},
                         const std::string& cert = "", const std::string& key = "");

  // Client options that trust only the test CA and expect the name "localhost".
  TlsClientOptions trusting_test_ca() const;

  const TestCertificates* certs_ = nullptr;
};

// Runs clients/pop3_tls_dialog.py against HOST:PORT with the test CA and `steps` (see the script),
// prefixed by `wrapper` (e.g. nsenter ...). Returns one line per step that ran; a failed step's line
// starts with "error:".
std::vector<std::string> run_tls_dialog(const std::string& host, uint16_t port, const std::string& ca_file,
                                        const std::vector<std::string>& steps,
                                        const std::vector<std::string>& wrapper = {});

// Runs clients/<script> with python3 and `args`.
RunResult run_python_client(const std::string& script, const std::vector<std::string>& args,
                            const std::vector<std::string>& wrapper = {});

// How many lines of `log` contain `needle` (for Dovecot's log).
size_t count_lines_with(std::string_view log, std::string_view needle);

// The lines of `log` that contain `needle`, joined with newlines (for Dovecot's log).
std::string lines_with(std::string_view log, std::string_view needle);

// Polls `read_log` until at least `count` lines contain `needle`; false on timeout.
bool wait_for_log_lines(const std::function<std::string()>& read_log, std::string_view needle, size_t count,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

// popgate's log lines of one event, in either --log-format: JSON ({"ts":...,"level":...,"event":"login",...})
// or text ("TS LEVEL login key=value ...").
std::vector<std::string> popgate_events(std::string_view log, std::string_view event);

// The value of `key` in one popgate log line of either format, unquoted; "" if it has none.
std::string log_field(std::string_view line, std::string_view key);

// Polls `read_log` until popgate logged `event` at least `count` times (counting only the lines
// that contain `containing`); false on timeout.
bool wait_for_popgate_events(const std::function<std::string()>& read_log, std::string_view event,
                             size_t count, std::string_view containing = "",
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Lines joined with newlines, for failure messages.
std::string joined(const std::vector<std::string>& lines);

}  // namespace popgate::integration
