// Small ptrace building blocks shared by the recorder and the replayer: registers,
// writing into a tracee, the stack hash that identifies a user-space point, and running
// one syscall inside a stopped thread (syscall injection).
//
// All functions take a thread that is in a ptrace-stop of the calling tracer.
//
//   auto old = inject_syscall(tid, site, SYS_prctl, {PR_SET_TSC, PR_TSC_SIGSEGV});
//   if (!old) warn(old.error().message);
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "tracee/wait_status.h"

namespace rwd {

// A raw syscall return value that stands for an error (-4095..-1).
inline bool is_error(int64_t rc) { return rc < 0 && rc > -4096; }

Result<user_regs_struct> get_regs(pid_t tid);
Status set_regs(pid_t tid, const user_regs_struct& regs);

std::string regs_bytes(const user_regs_struct& regs);
// Fails unless `bytes` is exactly one user_regs_struct.
Result<user_regs_struct> regs_from_bytes(std::string_view bytes);

// Writes into the tracee through /proc/PID/mem, which also writes read-only and
// PROT_NONE private mappings (as a debugger's breakpoints do).
// (Reads go through TargetMemory.)
Status write_memory(pid_t pid, uint64_t addr, std::string_view bytes);

// Runs `use` with `len` bytes of the stopped thread's stack, below its stack pointer and
// red zone (where a signal frame would go), as scratch memory for a syscall that rewind
// runs in the thread to write into; the bytes there are put back afterwards.
Status with_stack_scratch(pid_t tid, size_t len, const std::function<void(uint64_t)>& use);

// Hash of the 256 bytes above the stack pointer (fewer where the mapping ends): with
// the registers, it tells apart the visits of a loop that keeps its state on the stack.
uint64_t stack_hash(pid_t pid, uint64_t rsp);

// True if the registers describe a thread stopped after a syscall that the kernel will
// restart (-ERESTARTSYS and friends) once it returns to user space.
bool restart_pending(const user_regs_struct& regs);
// Applies the restart the kernel would apply when no signal handler runs: back to the
// syscall instruction with the syscall number (or restart_syscall) in rax.
void apply_restart(user_regs_struct& regs);
// For registers stopped after a syscall that failed with EINTR: have the kernel restart
// it on its way back to user space, whatever happens first (-ERESTARTNOINTR). False,
// and nothing changed, for any other stop.
bool restart_instead_of_eintr(user_regs_struct& regs);

// The registers of a thread at a syscall-entry stop (`entry`), set back onto its
// syscall instruction so that it makes the call again when resumed.
user_regs_struct rerun_syscall(const user_regs_struct& entry);

// The resume flag: set in the flags image of a fault, never in what `syscall` saves.
inline constexpr uint64_t kResumeFlag = 0x10000;

// `regs` as the `syscall` instruction at `syscall_at` leaves them for the kernel: rip
// and rcx past it, r11 the flags. For a thread that rewind takes through a syscall
// without running the instruction (a clock stub's, see vdso_patch.h).
user_regs_struct past_syscall_instruction(user_regs_struct regs, uint64_t syscall_at);

// Runs `nr(args)` in the stopped thread `tid`, using the syscall instruction at `site`,
// and restores its registers (a pending restart is applied first, see above). The
// thread must not be at a syscall-entry stop. A signal that arrives meanwhile is not
// lost: it is returned in *deferred_signal for the caller to deliver.
Result<int64_t> inject_syscall(pid_t tid, uint64_t site, int64_t nr,
                               std::array<uint64_t, 6> args, int* deferred_signal = nullptr);

// A syscall instruction whose following code restores the thread from `save_area` (a
// user_regs_struct in the target) if the tracer dies during the injected call, as the
// orphan guard's does. inject_syscall writes the thread's registers there first.
struct InjectionSite {
  uint64_t syscall_insn = 0;
  uint64_t save_area = 0;
};
Result<int64_t> inject_syscall(pid_t tid, const InjectionSite& site, int64_t nr,
                               std::array<uint64_t, 6> args, int* deferred_signal = nullptr);

// The argument of sigaltstack(&ss, NULL) that gives a thread the alternate signal stack
// which sigaltstack(NULL, &old) reported in another: the same, less the SS_ONSTACK that
// only says the reporting thread was running on it.
stack_t altstack_to_set(const stack_t& reported);

// Waits for the next stop or exit of one thread (retrying EINTR). With a timeout, fails
// when none comes in time (a thread of a process being killed may never report).
Result<WaitStatus> wait_thread(pid_t tid,
                               std::optional<std::chrono::milliseconds> timeout = {});

}  // namespace rwd
