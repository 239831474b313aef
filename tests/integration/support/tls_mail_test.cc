// The TLS tests' fixture: MailTest plus the test certificates, popgate with STLS and an implicit-TLS
// listener, Dovecot with ssl = yes, and the Python TLS clients under clients/.
#include "tests/integration/support/tls_mail_test.h"

#include <sstream>
#include <thread>

namespace popgate::integration {

void TlsMailTest::SetUp() {
  certs_ = &io::testing::test_certificates();
  ASSERT_TRUE(certs_->error.empty()) << "making the test certificates: " << certs_->error;
}

void TlsMailTest::start_tls_dovecot(std::vector<CorpusMessage> corpus, const std::string& cert,
                                    const std::string& key) {
  corpus_ = std::move(corpus);
  dovecot_ = std::make_unique<DovecotServer>();
  dovecot_->add_user(kUser, kPassword);
  dovecot_->add_user(kOtherUser, kOtherPassword);
  dovecot_->enable_tls(cert, key);
  dovecot_->deliver_all(kUser, corpus_);
  dovecot_->start();
}

void TlsMailTest::start_tls_popgate(std::vector<std::string> args, PopgateOptions options,
                                    const std::string& cert, const std::string& key) {
  args.insert(args.end(), {"--tls-cert", cert.empty() ? certs().server_cert : cert, "--tls-key",
                           key.empty() ? certs().server_key : key});
  options.listen_tls = true;
  start_popgate(std::move(args), options);
}

TlsClientOptions TlsMailTest::trusting_test_ca() const {
  TlsClientOptions options;
  options.ca_file = certs().ca_cert;
  return options;
}

RunResult run_python_client(const std::string& script, const std::vector<std::string>& args,
                            const std::vector<std::string>& wrapper) {
  SpawnOptions options;
  for (const auto& w : wrapper) options.argv.push_back(options.argv.empty() ? find_program(w) : w);
  options.argv.push_back(find_program("python3"));
  options.argv.push_back(std::string(POPGATE_SOURCE_DIR) + "/tests/integration/clients/" + script);
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return run_program(options, std::chrono::seconds(60));
}

std::vector<std::string> run_tls_dialog(const std::string& host, uint16_t port, const std::string& ca_file,
                                        const std::vector<std::string>& steps,
                                        const std::vector<std::string>& wrapper) {
  std::vector<std::string> args = {host, std::to_string(port), ca_file};
  args.insert(args.end(), steps.begin(), steps.end());
  RunResult r = run_python_client("pop3_tls_dialog.py", args, wrapper);
  std::vector<std::string> lines;
  std::istringstream out(r.out);
  for (std::string line; std::getline(out, line);) lines.push_back(line);
  if (r.exit_code != 0 && (lines.empty() || lines.back().rfind("error:", 0) != 0)) {
    lines.push_back("error: pop3_tls_dialog.py exit " + std::to_string(r.exit_code) + ": " + r.err);
  }
  return lines;
}

size_t count_lines_with(std::string_view log, std::string_view needle) {
  size_t count = 0;
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string_view::npos) end = log.size();
    if (log.substr(start, end - start).find(needle) != std::string_view::npos) ++count;
    start = end + 1;
  }
  return count;
}

std::string lines_with(std::string_view log, std::string_view needle) {
  std::string out;
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string_view::npos) end = log.size();
    std::string_view line = log.substr(start, end - start);
    if (line.find(needle) != std::string_view::npos) out += std::string(line) + "\n";
    start = end + 1;
  }
  return out;
}

bool wait_for_log_lines(const std::function<std::string()>& read_log, std::string_view needle, size_t count,
                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (count_lines_with(read_log(), needle) >= count) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace {

std::vector<std::string_view> split_lines(std::string_view log) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string_view::npos) end = log.size();
    lines.push_back(log.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Reads a quoted string that starts at line[at] == '"'; backslash escapes keep the next character.
std::string read_quoted(std::string_view line, size_t at) {
  std::string value;
  for (size_t i = at + 1; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) ++i;
    value += line[i];
  }
  return value;
}

}  // namespace

std::vector<std::string> popgate_events(std::string_view log, std::string_view event) {
  std::vector<std::string> out;
  for (std::string_view line : split_lines(log)) {
    bool match = false;
    if (line.starts_with("{")) {
      match = line.find("\"event\":\"" + std::string(event) + "\"") != std::string_view::npos;
    } else {
      // TS LEVEL EVENT [key=value ...]
      const size_t first = line.find(' ');
      const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
      if (second != std::string_view::npos) {
        const size_t third = line.find(' ', second + 1);
        match =
            line.substr(second + 1, third == std::string_view::npos ? third : third - second - 1) == event;
      }
    }
    if (match) out.emplace_back(line);
  }
  return out;
}

std::string log_field(std::string_view line, std::string_view key) {
  const bool json = line.starts_with("{");
  const std::string marker = json ? "\"" + std::string(key) + "\":" : " " + std::string(key) + "=";
  const size_t at = line.find(marker);
  if (at == std::string_view::npos) return "";
  const size_t value = at + marker.size();
  if (value < line.size() && line[value] == '"') return read_quoted(line, value);
  const size_t end = line.find_first_of(json ? ",}" : " ", value);
  return std::string(line.substr(value, end == std::string_view::npos ? end : end - value));
}

bool wait_for_popgate_events(const std::function<std::string()>& read_log, std::string_view event,
                             size_t count, std::string_view containing, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t found = 0;
    for (const auto& line : popgate_events(read_log(), event))
      found += line.find(containing) != std::string::npos;
    if (found >= count) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

}  // namespace popgate::integration
