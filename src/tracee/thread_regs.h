// ThreadRegs: the register state of one stopped thread, read with ptrace.
//
//   auto regs = read_thread_regs(tid);   // tid must be in a ptrace-stop
//   regs->json()  // for the snapshot
#pragma once

#include <nlohmann/json.hpp>
#include <sys/types.h>
#include <sys/user.h>

#include <string>

#include "common/error.h"

namespace rwd {

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
