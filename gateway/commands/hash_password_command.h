// `popgate hash-password`: prints the crypt(3) hash of a password for the accounts file.
#pragma once

#include <istream>
#include <ostream>

namespace popgate {

// argv[0] is "hash-password". Options: --method yescrypt (default) | bcrypt | sha512-crypt;
// --password-stdin: every line of `in` is a password, one hash per line is printed (no prompt).
// Without it one password is read: from `terminal_fd` when it is a terminal (prompted on `err`
// with echo off, asked twice), else the first line of `in`. Returns the exit status: 0 done,
// 1 failed (empty or mismatched password, libcrypt lacks the method), 2 usage.
int run_hash_password_command(int argc, const char* const* argv, std::istream& in, std::ostream& out,
                              std::ostream& err, int terminal_fd = -1);

}  // namespace popgate
