// The raw x86-64 syscall table (syscall_table_data.cc), one entry per syscall number of
// Linux 6.x, sorted by number. syscall_table.cc indexes it and interprets it.
#pragma once

#include <span>

#include "tracee/syscall_table.h"

namespace rwd {

std::span<const SyscallInfo> syscall_table_data();

}  // namespace rwd
