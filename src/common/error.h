// Error and Result: how every fallible operation in rewind reports failure.
//
// A library function that can fail returns Result<T> (std::expected<T, Error>). The
// message is written for the user who caused it: it names the thing, the reason and,
// where there is one, the next step, e.g.
//   cannot attach to pid 4242: operation not permitted (is CAP_SYS_PTRACE granted?)
// Errors are values; no exception crosses a library boundary.
//
//   Result<int> parse_port(std::string_view s) {
//     if (s.empty()) return fail("port is empty (pass --port N)");
//     ...
//   }
//   auto port = parse_port(arg);
//   if (!port) { log_error("{}", port.error().message); return 2; }
#pragma once

#include <fmt/format.h>

#include <expected>
#include <string>
#include <utility>

namespace rwd {

struct Error {
  std::string message;
  int sys_errno = 0;  // errno behind the failure, 0 when not a system error

  // Prefixes context ("while writing x: ") to the message, keeping errno.
  Error context(std::string_view what) const& {
    return Error{fmt::format("{}: {}", what, message), sys_errno};
  }
};

template <class T>
using Result = std::expected<T, Error>;

// Status is a Result without a value.
using Status = std::expected<void, Error>;

template <class... Args>
std::unexpected<Error> fail(fmt::format_string<Args...> f, Args&&... args) {
  return std::unexpected(Error{fmt::format(f, std::forward<Args>(args)...), 0});
}

// fail_errno builds an Error from errno: "<message>: <strerror(errno)>".
std::unexpected<Error> fail_errno_impl(int err, std::string message);

template <class... Args>
std::unexpected<Error> fail_errno(int err, fmt::format_string<Args...> f, Args&&... args) {
  return fail_errno_impl(err, fmt::format(f, std::forward<Args>(args)...));
}

inline Status ok() { return {}; }

// Human text for an errno value, lower case, as in "no such process".
std::string errno_text(int err);

// errno name, e.g. "ENOENT"; "E<n>" when unknown.
std::string errno_name(int err);

}  // namespace rwd
