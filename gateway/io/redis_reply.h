// RedisReply: one RESP2 reply as popgate's code sees it, owned, with no hiredis type in sight.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::io {

struct RedisReply {
  enum class Type {
    Status,   // +OK: `text`
    Error,    // -ERR ...: `text` ("NOSCRIPT No matching script", "WRONGPASS ...")
    Integer,  // :1: `integer`
    String,   // $n bulk string: `text` (binary-safe)
    Nil,      // $-1 or *-1
    Array,    // *n: `elements`
  };

  Type type = Type::Nil;
  std::string text;
  int64_t integer = 0;
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::Error; }
  bool is_nil() const { return type == Type::Nil; }
  // +OK, as SET, AUTH and SELECT answer when they did what was asked.
  bool is_ok() const { return type == Type::Status && text == "OK"; }
  // The first word of an error ("NOSCRIPT", "WRONGPASS", "NOAUTH", "READONLY", "LOADING").
  std::string_view error_code() const {
    if (type != Type::Error) return {};
    std::string_view view = text;
    return view.substr(0, view.find(' '));
  }
};

}  // namespace popgate::io
