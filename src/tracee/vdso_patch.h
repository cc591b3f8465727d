// The vDSO time functions, turned into real syscalls so that the recorder sees and
// records every clock read (the vDSO reads the clock in user space, invisible to
// ptrace, and with rdtsc trapped it would fault).
//
// Each patched function becomes `mov $NR, %eax; syscall; ret`, or, with
// ClockStub::kTrapped, `rdtsc; mov $NR, %eax; syscall; ret`: where rdtsc is trapped, the
// recorder stops once at the rdtsc, reads the clock itself and takes the thread past the
// `ret` (one ptrace stop per clock read instead of a syscall's two). The syscall after it
// is what runs when the recorder lets the call through, what replay emulates, and what
// the orphan guard falls back to after rewind is gone. getcpu always gets the plain stub
// (its answer is the calling thread's CPU, which only the kernel knows). The replayer
// applies the same patches to the bundled vDSO image, so both runs execute identical
// code.
//
//   auto patches = vdso_patches(image, vdso_start, ClockStub::kTrapped);
//   apply_patches(pid, *patches);   ...   revert_patches(pid, *patches);
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace rwd {

enum class ClockStub : uint8_t { kSyscall, kTrapped };

struct CodePatch {
  std::string symbol;
  uint64_t addr = 0;
  std::string original;
  std::string replacement;
  int sysno = 0;           // the syscall the function stands for
  uint64_t syscall_at = 0; // address of the stub's `syscall` instruction
  bool trapped = false;    // the stub starts with rdtsc (ClockStub::kTrapped)

  // Whether `rip` is inside the stub past its first byte: a thread there would resume in
  // the middle of an original instruction once the original code is back.
  bool within(uint64_t rip) const { return rip > addr && rip < addr + replacement.size(); }
};

// Finds the time functions in a vDSO image mapped at `base`. Fails when the image is
// not an ELF file with a dynamic symbol table.
Result<std::vector<CodePatch>> vdso_patches(std::string_view image, uint64_t base,
                                            ClockStub stub = ClockStub::kSyscall);

// The patch whose trapped stub starts at `rip` (its rdtsc), or nullptr.
const CodePatch* trapped_stub_at(const std::vector<CodePatch>& patches, uint64_t rip);

// Address of the bytes of a `syscall` instruction (0f 05) in an unpatched vDSO image
// mapped at `base`, wherever they are, or 0: enough for one injected syscall.
uint64_t find_syscall_instruction(std::string_view image, uint64_t base);

// Moves a thread standing inside patch `p`, past its first byte, to where the program's
// own code has the same state, so that no address inside the patch stays in its
// registers (a signal frame built from them, a detach that restores the original code):
// on the stub's `ret` (the call is done) to the caller, `return_to` being the word at
// rsp; before the `syscall` of a plain stub has run, back to the function's entry (the
// stub sets eax itself; rcx and r11 are the caller's to lose). False when it is not
// inside, or inside a trapped stub before its syscall (moving it back would trap again).
bool leave_patch(const CodePatch& p, user_regs_struct& regs, uint64_t return_to);

// Address of a `syscall` instruction inside the patches (for syscall injection).
uint64_t patch_syscall_site(const std::vector<CodePatch>& patches);

Status apply_patches(pid_t pid, const std::vector<CodePatch>& patches);
Status revert_patches(pid_t pid, const std::vector<CodePatch>& patches);

// Applies the patches to a copy of the image held in memory.
void apply_patches_to_image(std::string& image, uint64_t base,
                            const std::vector<CodePatch>& patches);

}  // namespace rwd
