#include "replay/register_diff.h"

#include <fmt/format.h>

namespace rwd {

std::string describe_regs(const user_regs_struct& r) {
  return fmt::format("rip={:#x} rsp={:#x} rax={:#x} rdi={:#x} rsi={:#x} rdx={:#x} r10={:#x}",
                     r.rip, r.rsp, r.rax, r.rdi, r.rsi, r.rdx, r.r10);
}

std::string regs_difference(const user_regs_struct& want, const user_regs_struct& got,
                            bool ignore_rcx_r11) {
  struct Field {
    const char* name;
    unsigned long long user_regs_struct::*member;
  };
  static constexpr Field kFields[] = {
      {"rip", &user_regs_struct::rip},         {"rsp", &user_regs_struct::rsp},
      {"rax", &user_regs_struct::rax},         {"rbx", &user_regs_struct::rbx},
      {"rcx", &user_regs_struct::rcx},         {"rdx", &user_regs_struct::rdx},
      {"rsi", &user_regs_struct::rsi},         {"rdi", &user_regs_struct::rdi},
      {"rbp", &user_regs_struct::rbp},         {"r8", &user_regs_struct::r8},
      {"r9", &user_regs_struct::r9},           {"r10", &user_regs_struct::r10},
      {"r11", &user_regs_struct::r11},         {"r12", &user_regs_struct::r12},
      {"r13", &user_regs_struct::r13},         {"r14", &user_regs_struct::r14},
      {"r15", &user_regs_struct::r15},         {"fs_base", &user_regs_struct::fs_base},
      {"gs_base", &user_regs_struct::gs_base}, {"eflags", &user_regs_struct::eflags},
  };
  for (const auto& f : kFields) {
    if (ignore_rcx_r11 && (f.member == &user_regs_struct::rcx || f.member == &user_regs_struct::r11)) {
      continue;
    }
    uint64_t a = want.*f.member, b = got.*f.member;
    if (f.member == &user_regs_struct::eflags) {
      a &= ~kRflagsIgnored;
      b &= ~kRflagsIgnored;
    }
    if (a != b) {
      return fmt::format("{} is {:#x}, recorded {:#x}", f.name, b, a);
    }
  }
  return {};
}

}  // namespace rwd
