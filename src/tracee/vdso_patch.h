// The vDSO time functions, turned into real syscalls so that the recorder sees and
// records every clock read (the vDSO reads the clock in user space, invisible to
// ptrace, and with rdtsc trapped it would fault).
//
// Each patched function becomes `mov $NR, %eax; syscall; ret`. The replayer applies the
// same patches to the bundled vDSO image, so both runs execute identical code.
//
//   auto patches = vdso_patches(image, vdso_start);     // from the vDSO's own symbols
//   apply_patches(pid, *patches);   ...   revert_patches(pid, *patches);
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace rwd {

struct CodePatch {
  std::string symbol;
  uint64_t addr = 0;
  std::string original;
  std::string replacement;
};

// Finds the time functions in a vDSO image mapped at `base`. Fails when the image is
// not an ELF file with a dynamic symbol table.
Result<std::vector<CodePatch>> vdso_patches(std::string_view image, uint64_t base);

// Address of the bytes of a `syscall` instruction (0f 05) in an unpatched vDSO image
// mapped at `base`, wherever they are, or 0: enough for one injected syscall.
uint64_t find_syscall_instruction(std::string_view image, uint64_t base);

// Address of a `syscall` instruction inside the patches (for syscall injection).
uint64_t patch_syscall_site(const std::vector<CodePatch>& patches);

Status apply_patches(pid_t pid, const std::vector<CodePatch>& patches);
Status revert_patches(pid_t pid, const std::vector<CodePatch>& patches);

// Applies the patches to a copy of the image held in memory.
void apply_patches_to_image(std::string& image, uint64_t base,
                            const std::vector<CodePatch>& patches);

}  // namespace rwd
