// ScriptedImapServer: command framing (lines, synchronising and LITERAL+ literals) and replies.
#include "tests/unit/adapters/imap/scripted_imap_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include "gateway/io/socket_address.h"

namespace popgate::testing {
namespace {

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// Takes the next space-separated word off the front of `rest`.
std::string next_word(std::string_view& rest) {
  size_t space = rest.find(' ');
  std::string word(rest.substr(0, space));
  rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
  return word;
}

// A line ending in "{n}" or "{n+}" announces a literal of n octets (RFC 3501 §4.3, RFC 7888).
bool literal_announcement(std::string_view line, uint64_t& size, bool& synchronising) {
  if (line.empty() || line.back() != '}') return false;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return false;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  synchronising = digits.empty() || digits.back() != '+';
  if (!synchronising) digits.remove_suffix(1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
  return !digits.empty() && ec == std::errc() && end == digits.data() + digits.size();
}

}  // namespace

ImapCommandLine split_command(const std::string& line) {
  std::string_view rest = line;
  ImapCommandLine command;
  command.tag = next_word(rest);
  command.name = upper(next_word(rest));
  if (command.name == "UID") command.name += " " + upper(next_word(rest));
  command.args = std::string(rest);
  return command;
}

ScriptedImapServer::ScriptedImapServer(io::Loop& loop, std::string greeting, Handler handler)
    : greeting_(std::move(greeting)), handler_(std::move(handler)) {
  auto address = io::SocketAddress::from_numeric({"127.0.0.1", 0});
  auto listener = io::TcpListener::listen(
      loop, *address, {}, [this](io::TransportPtr accepted) { on_accept(std::move(accepted)); });
  if (!listener) {
    ADD_FAILURE() << "listen: " << listener.error().detail;
    return;
  }
  listener_ = std::move(listener).value();
  port_ = listener_->local_address().port();
}

ScriptedImapServer::~ScriptedImapServer() = default;

void ScriptedImapServer::on_accept(io::TransportPtr transport) {
  ++connections_;
  transport_ = std::move(transport);
  input_.clear();
  command_.clear();
  literal_left_ = 0;
  peer_closed_ = false;
  transport_->set_handler(this);
  transport_->start_reading();
  send(greeting_);
}

void ScriptedImapServer::send(std::string_view bytes) {
  if (transport_) transport_->write(bytes);
}

std::vector<std::string> ScriptedImapServer::untagged_commands() const {
  std::vector<std::string> out;
  for (const auto& line : commands_) {
    size_t space = line.find(' ');
    out.push_back(space == std::string::npos ? std::string() : line.substr(space + 1));
  }
  return out;
}

size_t ScriptedImapServer::count(std::string_view name) const {
  return std::count_if(commands_.begin(), commands_.end(),
                       [&](const std::string& line) { return split_command(line).name == name; });
}

void ScriptedImapServer::on_data(std::string_view data) {
  input_.append(data);
  while (take_command()) {
  }
}

void ScriptedImapServer::on_end(const io::StreamEnd&) {
  peer_closed_ = true;
}

bool ScriptedImapServer::take_command() {
  if (!transport_) return false;
  if (literal_left_ > 0) {
    size_t take = std::min<uint64_t>(literal_left_, input_.size());
    command_.append(input_, 0, take);
    input_.erase(0, take);
    literal_left_ -= take;
    return literal_left_ == 0;
  }
  size_t crlf = input_.find("\r\n");
  if (crlf == std::string::npos) return false;
  std::string line = input_.substr(0, crlf);
  input_.erase(0, crlf + 2);
  command_ += line;
  bool synchronising = false;
  if (literal_announcement(line, literal_left_, synchronising)) {
    command_ += "\r\n";
    if (synchronising && !input_.empty()) ++early_literals_;
    if (synchronising) send("+ go ahead\r\n");
    return true;
  }
  dispatch();
  return transport_ != nullptr;
}

void ScriptedImapServer::dispatch() {
  std::string command = std::move(command_);
  command_.clear();
  commands_.push_back(command);
  send(handler_(command));
  if (close_after_reply_) close();
}

void ScriptedImapServer::close() {
  close_after_reply_ = false;
  if (!transport_) return;
  transport_->end();  // flushes the reply first
  transport_.reset();
}

}  // namespace popgate::testing
