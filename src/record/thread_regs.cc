#include "record/thread_regs.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>

#include "common/sha256.h"

namespace rwd {

Result<ThreadRegs> read_thread_regs(pid_t tid) {
  ThreadRegs r;
  r.tid = tid;
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &r.gp) != 0) {
    return fail_errno(errno, "cannot read registers of thread {}", tid);
  }
  if (::ptrace(PTRACE_GETFPREGS, tid, nullptr, &r.fp) != 0) {
    return fail_errno(errno, "cannot read FP registers of thread {}", tid);
  }
  std::string xs(16384, '\0');
  struct iovec iov{xs.data(), xs.size()};
  if (::ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) == 0) {
    xs.resize(iov.iov_len);
    r.xstate = std::move(xs);
  }
  return r;
}

nlohmann::json ThreadRegs::json() const {
  const auto& g = gp;
  nlohmann::json regs = {
      {"rax", g.rax}, {"rbx", g.rbx}, {"rcx", g.rcx}, {"rdx", g.rdx},
      {"rsi", g.rsi}, {"rdi", g.rdi}, {"rbp", g.rbp}, {"rsp", g.rsp},
      {"r8", g.r8},   {"r9", g.r9},   {"r10", g.r10}, {"r11", g.r11},
      {"r12", g.r12}, {"r13", g.r13}, {"r14", g.r14}, {"r15", g.r15},
      {"rip", g.rip}, {"eflags", g.eflags}, {"orig_rax", g.orig_rax},
      {"cs", g.cs},   {"ss", g.ss},   {"ds", g.ds},   {"es", g.es},
      {"fs", g.fs},   {"gs", g.gs},   {"fs_base", g.fs_base}, {"gs_base", g.gs_base},
  };
  auto fp_bytes = std::span(reinterpret_cast<const uint8_t*>(&fp), sizeof fp);
  return {{"tid", tid},
          {"regs", regs},
          {"fpregs", to_hex(fp_bytes)},
          {"xstate", to_hex(std::span(reinterpret_cast<const uint8_t*>(xstate.data()),
                                      xstate.size()))}};
}

}  // namespace rwd
