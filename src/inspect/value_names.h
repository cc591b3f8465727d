// Names for the numbers syscalls pass around (O_*, PROT_*, MAP_*, FUTEX_*...), as strace
// prints them. Used by the syscall formatter; every function accepts any value and falls
// back to a number for what it does not know. Signal names are tracee/signals.h.
//
//   open_flags_text(O_RDONLY|O_CLOEXEC) -> "O_RDONLY|O_CLOEXEC"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tracee/syscall_table.h"

namespace rwd {

std::string open_flags_text(uint64_t flags);
std::string prot_text(uint64_t prot);
std::string mmap_flags_text(uint64_t flags);
std::string futex_op_text(uint64_t op);
std::string clone_flags_text(uint64_t flags);
std::string sock_domain_text(uint64_t domain);
std::string sock_type_text(uint64_t type);
std::string at_flags_text(uint64_t flags);
std::string access_mode_text(uint64_t mode);
std::string mode_text(uint64_t mode);  // 0644
std::string sa_flags_text(uint64_t flags);
std::string poll_events_text(uint64_t events);
// "SEGV_MAPERR" and the like for a signal's si_code.
std::string signal_code_text(int sig, int code);

// Name for a small enumerated argument (whence, fcntl command, ioctl request, clock id,
// sigprocmask how, epoll_ctl op, prctl/arch_prctl option); empty when unknown.
std::string_view enum_name(ArgKind kind, uint64_t value);

}  // namespace rwd
