#include "tracee/thread_regs.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>
#include <iterator>

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

namespace {

constexpr RegisterField kRegisterFields[] = {
    {"rax", &user_regs_struct::rax},         {"rbx", &user_regs_struct::rbx},
    {"rcx", &user_regs_struct::rcx},         {"rdx", &user_regs_struct::rdx},
    {"rsi", &user_regs_struct::rsi},         {"rdi", &user_regs_struct::rdi},
    {"rbp", &user_regs_struct::rbp},         {"rsp", &user_regs_struct::rsp},
    {"r8", &user_regs_struct::r8},           {"r9", &user_regs_struct::r9},
    {"r10", &user_regs_struct::r10},         {"r11", &user_regs_struct::r11},
    {"r12", &user_regs_struct::r12},         {"r13", &user_regs_struct::r13},
    {"r14", &user_regs_struct::r14},         {"r15", &user_regs_struct::r15},
    {"rip", &user_regs_struct::rip},         {"eflags", &user_regs_struct::eflags},
    {"orig_rax", &user_regs_struct::orig_rax}, {"cs", &user_regs_struct::cs},
    {"ss", &user_regs_struct::ss},           {"ds", &user_regs_struct::ds},
    {"es", &user_regs_struct::es},           {"fs", &user_regs_struct::fs},
    {"gs", &user_regs_struct::gs},           {"fs_base", &user_regs_struct::fs_base},
    {"gs_base", &user_regs_struct::gs_base},
};
static_assert(std::size(kRegisterFields) * sizeof(unsigned long long) == sizeof(user_regs_struct),
              "every member of user_regs_struct has a name");

}  // namespace

std::span<const RegisterField> register_fields() { return kRegisterFields; }

Result<user_regs_struct> regs_from_json(const nlohmann::json& regs) {
  if (!regs.is_object()) {
    return fail("the snapshot holds no registers for a thread");
  }
  user_regs_struct r{};
  for (const auto& f : register_fields()) {
    auto it = regs.find(f.name);
    if (it == regs.end() || !it->is_number_integer()) {
      return fail("the snapshot's register {} is missing or not a number", f.name);
    }
    r.*f.member = it->is_number_unsigned() ? it->get<uint64_t>()
                                           : static_cast<uint64_t>(it->get<int64_t>());
  }
  return r;
}

nlohmann::json ThreadRegs::json() const {
  nlohmann::json regs = nlohmann::json::object();
  for (const auto& f : register_fields()) {
    regs[f.name] = gp.*f.member;
  }
  auto fp_bytes = std::span(reinterpret_cast<const uint8_t*>(&fp), sizeof fp);
  return {{"tid", tid},
          {"regs", regs},
          {"fpregs", to_hex(fp_bytes)},
          {"xstate", to_hex(std::span(reinterpret_cast<const uint8_t*>(xstate.data()),
                                      xstate.size()))}};
}

}  // namespace rwd
