// Formatting recorded events for people (strace style, `rewind log`) and for tools
// (JSON, `rewind log --json`).
//
// Argument contents (paths, write buffers, structures) come from the bytes the recorder
// captured with the event: `inputs` at syscall entry, `outputs` at exit, found by
// address. Where nothing was captured the address is shown instead. Stateless and
// thread-safe.
//
//   for each event e:
//     fmt::print("{}\n", format_event(e));
//       // openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 3
//       // read(3, "127.0.0.1\tlocalhost\n"..., 4096) = 312
//       // --- SIGSEGV {si_code=SEGV_MAPERR, si_addr=0x10} --- (fatal)
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "format/event.h"

namespace rwd {

// Buffers show at most this many bytes before `...` (strace's default -s 32).
inline constexpr size_t kShownBufferBytes = 32;

// Any event, one line without a trailing newline.
std::string format_event(const Event& e);

// The instruction pointer saved in a kPoint event's registers (0 if absent).
uint64_t point_rip(const Event& e);
// A syscall event: `name(args...) = result`.
std::string format_syscall(const Event& e);

// Bytes as a C string literal with quotes, strace style: \n \t \" \\ and \xNN for
// other non-printable bytes; `...` after the closing quote when `truncated`.
std::string quote_bytes(std::string_view bytes, bool truncated = false);

// The bytes a completed write(2), pwrite64, writev or pwritev call handed to the kernel,
// cut to what its result says was taken, from the captured inputs; nullopt for any
// other event, a failed call or one whose buffers were not captured.
std::optional<std::string> written_data(const Event& e);

// The result as strace shows it: `3`, `0x7f12...` for addresses, or
// `-1 ENOENT (No such file or directory)`; `?` for a call still in progress.
std::string format_result(const Event& e);

// type, tid, time_ns and, per type: syscall name, number, args (raw and decoded),
// result, errno name, completed, captured byte counts; signal name, code and fault
// address; thread id or status; exec path; exit status. Always includes "text", the
// format_event line.
nlohmann::json event_to_json(const Event& e);

}  // namespace rwd
