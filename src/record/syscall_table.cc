// Minimal stand-in until the full table lands (lead's local build only).
#include "record/syscall_table.h"

#include <sys/syscall.h>

namespace rwd {

namespace {
constexpr ArgSpec out_result{ArgKind::kOutBuf, OutSize::kResult, 0, 0};
const SyscallInfo kTable[] = {
    {SYS_read, "read", 3, {ArgSpec{ArgKind::kFd}, out_result, ArgSpec{ArgKind::kUint}}},
    {SYS_write, "write", 3, {ArgSpec{ArgKind::kFd}, ArgSpec{ArgKind::kInBuf, OutSize::kFixed, 2}, ArgSpec{ArgKind::kUint}}},
    {SYS_exit_group, "exit_group", 1, {ArgSpec{ArgKind::kInt}}, kSysExit},
};
}  // namespace

const SyscallInfo* syscall_info(int64_t nr) {
  for (const auto& s : kTable) {
    if (s.nr == nr) {
      return &s;
    }
  }
  return nullptr;
}
const SyscallInfo* syscall_info_by_name(std::string_view) { return nullptr; }
std::span<const SyscallInfo> all_syscalls() { return kTable; }

std::vector<MemRange> syscall_output_ranges(const SyscallInfo& info,
                                            const std::array<uint64_t, 6>& args, int64_t result,
                                            const MemoryPeek&) {
  std::vector<MemRange> out;
  if (result < 0) {
    return out;
  }
  for (int i = 0; i < info.nargs; ++i) {
    if (info.args[i].kind == ArgKind::kOutBuf && info.args[i].out_size == OutSize::kResult) {
      out.push_back({args[i], static_cast<uint64_t>(result)});
    }
  }
  return out;
}

std::vector<MemRange> syscall_input_ranges(const SyscallInfo&, const std::array<uint64_t, 6>&,
                                           const MemoryPeek&, size_t) {
  return {};
}

}  // namespace rwd
