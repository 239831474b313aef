// RESP2 replies from hiredis's reader into RedisReply trees, under the reader's limits.
#include "gateway/io/redis_reply_reader.h"

#include <hiredis/read.h>

#include <new>
#include <utility>

namespace popgate::io {
namespace {

// What the object functions need besides the task: the limits, and why they refused.
struct BuildContext {
  const RedisReplyLimits* limits;
  std::string refusal;  // set when a function returns NULL on purpose (not out of memory)
};

RedisReply::Type type_of(int redis_type) {
  switch (redis_type) {
    case REDIS_REPLY_STATUS:
      return RedisReply::Type::Status;
    case REDIS_REPLY_ERROR:
      return RedisReply::Type::Error;
    case REDIS_REPLY_INTEGER:
      return RedisReply::Type::Integer;
    case REDIS_REPLY_ARRAY:
      return RedisReply::Type::Array;
    case REDIS_REPLY_NIL:
      return RedisReply::Type::Nil;
    default:
      return RedisReply::Type::String;
  }
}

// A reply's place: the root is allocated (the reader hands it back, or frees it on error); an
// array's elements are built in the slots createArray made, so freeing the root frees them all.
RedisReply* place(const redisReadTask* task) {
  if (task->parent == nullptr) return new (std::nothrow) RedisReply;
  auto* parent = static_cast<RedisReply*>(task->parent->obj);
  return &parent->elements[static_cast<size_t>(task->idx)];
}

// hiredis calls these from C: nothing may throw through it, and NULL means "failed".
void* create_string(const redisReadTask* task, char* bytes, size_t length) {
  auto* context = static_cast<BuildContext*>(task->privdata);
  // Checked before the bytes are touched: hiredis 0.14 does not bound a bulk length itself.
  if (length > context->limits->max_buffered_bytes) {
    context->refusal = "a reply string of " + std::to_string(length) + " bytes";
    return nullptr;
  }
  RedisReply* reply = place(task);
  if (reply == nullptr) return nullptr;
  try {
    reply->type = type_of(task->type);
    reply->text.assign(bytes, length);
  } catch (const std::bad_alloc&) {
    if (task->parent == nullptr) delete reply;
    return nullptr;
  }
  return reply;
}

void* create_array(const redisReadTask* task, int elements) {
  auto* context = static_cast<BuildContext*>(task->privdata);
  if (elements < 0 || static_cast<size_t>(elements) > context->limits->max_array_elements) {
    context->refusal = "a reply array of " + std::to_string(elements) + " elements";
    return nullptr;
  }
  RedisReply* reply = place(task);
  if (reply == nullptr) return nullptr;
  try {
    reply->type = RedisReply::Type::Array;
    reply->elements.resize(static_cast<size_t>(elements));
  } catch (const std::bad_alloc&) {
    if (task->parent == nullptr) delete reply;
    return nullptr;
  }
  return reply;
}

void* create_integer(const redisReadTask* task, long long value) {
  RedisReply* reply = place(task);
  if (reply == nullptr) return nullptr;
  reply->type = RedisReply::Type::Integer;
  reply->integer = value;
  return reply;
}

void* create_nil(const redisReadTask* task) {
  RedisReply* reply = place(task);
  if (reply == nullptr) return nullptr;
  reply->type = RedisReply::Type::Nil;
  return reply;
}

// Only ever called on a root (the reader frees nothing else).
void free_object(void* reply) {
  delete static_cast<RedisReply*>(reply);
}

redisReplyObjectFunctions kBuilders = {create_string, create_array, create_integer, create_nil, free_object};

}  // namespace

RedisReplyReader::RedisReplyReader(RedisReplyLimits limits)
    : limits_(limits), reader_(redisReaderCreateWithFunctions(&kBuilders)) {
  if (reader_ == nullptr) throw std::bad_alloc();
  reader_->privdata = new BuildContext{&limits_, {}};
}

RedisReplyReader::~RedisReplyReader() {
  auto* context = static_cast<BuildContext*>(reader_->privdata);
  redisReaderFree(reader_);
  delete context;
}

size_t RedisReplyReader::buffered() const {
  return reader_->buf == nullptr ? 0 : reader_->len - reader_->pos;
}

bool RedisReplyReader::feed(std::string_view bytes) {
  if (failed()) return false;
  if (bytes.empty()) return true;
  if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK) {
    fail("out of memory");
    return false;
  }
  return true;
}

std::optional<RedisReply> RedisReplyReader::next() {
  if (failed()) return std::nullopt;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    auto* context = static_cast<BuildContext*>(reader_->privdata);
    fail(context->refusal.empty() ? std::string(reader_->errstr) : context->refusal + " is over the limit");
    return std::nullopt;
  }
  if (raw == nullptr) {
    // Nothing complete: what is still waiting must fit the limit (a line without its CRLF, a
    // bulk string announced larger than anything popgate stores).
    if (buffered() > limits_.max_buffered_bytes) {
      fail("an incomplete reply over " + std::to_string(limits_.max_buffered_bytes) + " bytes");
    }
    return std::nullopt;
  }
  std::unique_ptr<RedisReply> reply(static_cast<RedisReply*>(raw));
  return std::move(*reply);
}

void RedisReplyReader::fail(std::string reason) {
  error_ = reason.empty() ? "malformed reply" : std::move(reason);
}

}  // namespace popgate::io
