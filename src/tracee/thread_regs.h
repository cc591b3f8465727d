// ThreadRegs: the register state of one stopped thread, read with ptrace; and the one
// table of the general registers by name, for every part of rewind that lists, reads or
// compares them one by one.
//
//   auto regs = read_thread_regs(tid);   // tid must be in a ptrace-stop
//   regs->json()  // for the snapshot
//   for (const auto& f : register_fields()) fmt::print("{} = {:#x}\n", f.name, gp.*f.member);
#pragma once

#include <nlohmann/json.hpp>
#include <sys/types.h>
#include <sys/user.h>

#include <span>
#include <string>

#include "common/error.h"

namespace rwd {

// One general register of user_regs_struct: its name (as in the snapshot's "regs"
// object and in gdb) and its member.
struct RegisterField {
  const char* name;
  unsigned long long user_regs_struct::*member;
};

// Every member of user_regs_struct, each once (rax, rbx, ... rip, eflags, ... gs_base).
std::span<const RegisterField> register_fields();

struct ThreadRegs {
  pid_t tid = 0;
  user_regs_struct gp{};       // general purpose, incl. fs_base and gs_base
  user_fpregs_struct fp{};     // legacy FXSAVE area
  std::string xstate;          // NT_X86_XSTATE (XSAVE area), empty if unavailable

  nlohmann::json json() const;
};

Result<ThreadRegs> read_thread_regs(pid_t tid);

// The general registers from a snapshot's "regs" object (the inverse of json()).
Result<user_regs_struct> regs_from_json(const nlohmann::json& regs);

}  // namespace rwd
