#include "tracee/orphan_guard.h"

#include <elf.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string_view>

#include "tracee/target_memory.h"

// The guard's code (orphan_guard.S), in rewind's read-only data.
extern "C" const char rwd_orphan_guard_begin[];
extern "C" const char rwd_orphan_guard_end[];
extern "C" const char rwd_orphan_guard_segv[];
extern "C" const char rwd_orphan_guard_trap[];
extern "C" const char rwd_orphan_guard_restorer[];
extern "C" const char rwd_orphan_guard_syscall[];

namespace rwd {
namespace {

constexpr uint64_t kPage = 4096;
// The data (orphan_guard.S has the same layout): the program's actions, which the guard
// passes signals on to; the stepping word; a scratch action for the rt_sigaction calls
// rewind makes; the registers of a thread running an injected syscall.
// Offsets from the start of the data (Layout::data).
constexpr uint64_t kSteppingOffset = 64;
constexpr uint64_t kScratchOffset = 96;
constexpr uint64_t kSavedRegsOffset = 128;
constexpr uint64_t kPassRdtscOffset = 352;
static_assert(kSavedRegsOffset + sizeof(user_regs_struct) <= kPassRdtscOffset);
static_assert(OrphanGuard::kCodeSize + kPassRdtscOffset + 8 <= OrphanGuard::kSize);
constexpr uint64_t kSaRestorer = 0x04000000;

// The signals the guard handles: its handler for each, and where the data page keeps
// the program's action (OrphanGuard::program_ has the same order).
struct Guarded {
  int sig;
  uint64_t OrphanGuard::Layout::*handler;
  uint64_t program_offset;
};
const std::array<Guarded, 2> kGuarded = {{{SIGSEGV, &OrphanGuard::Layout::segv, 0},
                                          {SIGTRAP, &OrphanGuard::Layout::trap, 32}}};

std::optional<size_t> guarded_index(int sig) {
  for (size_t i = 0; i < kGuarded.size(); ++i) {
    if (kGuarded[i].sig == sig) {
      return i;
    }
  }
  return std::nullopt;
}

std::string_view guard_code() {
  return {rwd_orphan_guard_begin,
          static_cast<size_t>(rwd_orphan_guard_end - rwd_orphan_guard_begin)};
}

uint64_t code_offset(const char* symbol) {
  return static_cast<uint64_t>(symbol - rwd_orphan_guard_begin);
}

template <typename T>
std::string_view as_bytes(const T& value) {
  return {reinterpret_cast<const char*>(&value), sizeof value};
}

Result<int64_t> run(pid_t tid, const InjectionSite& site, int64_t nr,
                    std::array<uint64_t, 6> args, int* deferred_signal, const char* what) {
  auto rc = inject_syscall(tid, site, nr, args, deferred_signal);
  if (!rc) {
    return fail("cannot {} in thread {}: {}", what, tid, rc.error().message);
  }
  if (*rc < 0 && *rc > -4096) {
    return fail_errno(static_cast<int>(-*rc), "cannot {} in thread {}", what, tid);
  }
  return *rc;
}

Status set_action(pid_t tid, const InjectionSite& site, int sig, const KernelSigaction& action,
                  uint64_t scratch, int* deferred_signal) {
  if (auto s = write_memory(tid, scratch, as_bytes(action)); !s) {
    return s;
  }
  auto rc = run(tid, site, SYS_rt_sigaction, {uint64_t(sig), scratch, 0, 8}, deferred_signal,
                "set a signal action");
  return rc ? ok() : Status(std::unexpected(rc.error()));
}

// The kernel writes the action into the thread's stack (with_stack_scratch): the guard's
// data is not writable by the target.
Result<KernelSigaction> get_action(pid_t tid, const InjectionSite& site, int sig,
                                   int* deferred_signal) {
  Result<KernelSigaction> action = fail("cannot read the action of signal {} in thread {}",
                                        sig, tid);
  auto s = with_stack_scratch(tid, sizeof(KernelSigaction), [&](uint64_t scratch) {
    auto rc = run(tid, site, SYS_rt_sigaction, {uint64_t(sig), 0, scratch, 8}, deferred_signal,
                  "read a signal action");
    KernelSigaction read;
    if (!rc) {
      action = std::unexpected(rc.error());
    } else if (TargetMemory(tid).read_into(scratch, &read, sizeof read) == sizeof read) {
      action = read;
    }
  });
  if (!s) {
    return std::unexpected(s.error());
  }
  return action;
}

// The end of what the vDSO image uses: its ELF headers, segments and section headers,
// and any byte that is not zero after them.
uint64_t vdso_used_bytes(std::string_view image) {
  Elf64_Ehdr eh{};
  if (image.size() < sizeof eh) {
    return image.size();
  }
  std::memcpy(&eh, image.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return image.size();
  }
  uint64_t used = eh.e_shoff + uint64_t{eh.e_shnum} * eh.e_shentsize;
  for (uint64_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    uint64_t at = eh.e_phoff + i * eh.e_phentsize;
    if (at + sizeof ph > image.size()) {
      return image.size();
    }
    std::memcpy(&ph, image.data() + at, sizeof ph);
    used = std::max<uint64_t>(used, ph.p_offset + ph.p_filesz);
  }
  size_t last = image.find_last_not_of('\0');
  return std::max<uint64_t>(used, last == std::string_view::npos ? 0 : last + 1);
}

}  // namespace

OrphanGuard::Layout OrphanGuard::current_layout() {
  return {code_offset(rwd_orphan_guard_segv), code_offset(rwd_orphan_guard_trap),
          code_offset(rwd_orphan_guard_restorer), code_offset(rwd_orphan_guard_syscall),
          kCodeSize};
}

// The action that puts the guard in front of the program's: the guard takes the
// program's flags and mask, so that the kernel delivers to it as it would to the program
// (same stack, same blocked signals).
KernelSigaction OrphanGuard::guard_action(size_t i, const KernelSigaction& program) const {
  KernelSigaction guard = program;
  guard.handler = base_ + layout_.*kGuarded[i].handler;
  guard.flags |= SA_SIGINFO;
  if ((guard.flags & kSaRestorer) == 0) {
    guard.flags |= kSaRestorer;
    guard.restorer = base_ + layout_.restorer;
  }
  return guard;
}

// Makes the guard's handler the action for guarded signal i, with the program's action
// saved in the guard's data for the guard to pass the signal on to; returns the
// program's action.
Result<KernelSigaction> OrphanGuard::wrap(pid_t tid, size_t i, int* deferred_signal) const {
  InjectionSite site = injection_site();
  auto program = get_action(tid, site, kGuarded[i].sig, deferred_signal);
  if (!program) {
    return std::unexpected(program.error());
  }
  if (auto s = write_memory(tid, data() + kGuarded[i].program_offset, as_bytes(*program)); !s) {
    return std::unexpected(s.error());
  }
  if (auto s = set_action(tid, site, kGuarded[i].sig, guard_action(i, *program),
                         data() + kScratchOffset, deferred_signal);
      !s) {
    return std::unexpected(s.error());
  }
  return *program;
}

uint64_t OrphanGuard::vdso_room(std::string_view image, uint64_t vdso_start) {
  constexpr uint64_t kAlign = 64;
  uint64_t at = (vdso_used_bytes(image) + kAlign - 1) / kAlign * kAlign;
  return at + kSize <= image.size() ? vdso_start + at : 0;
}

Result<OrphanGuard> OrphanGuard::install(pid_t tid, uint64_t place, uint64_t first_site,
                                         int* deferred_signal) {
  if (guard_code().size() > kCodeSize) {
    return fail("rewind's orphan guard code ({} bytes) overlaps its data", guard_code().size());
  }
  uint64_t base = place;
  if (place == 0) {
    // The one syscall not run on the guard's own instruction, with no way back should
    // rewind die during it: only when the vDSO has no room.
    auto mapped = run(tid, InjectionSite{first_site, 0}, SYS_mmap,
                      {0, kPage, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                       static_cast<uint64_t>(-1), 0},
                      deferred_signal, "map the orphan guard");
    if (!mapped) {
      return std::unexpected(mapped.error());
    }
    base = static_cast<uint64_t>(*mapped);
  }
  OrphanGuard guard(base, current_layout(), place == 0);
  InjectionSite site = guard.injection_site();
  size_t wrapped = 0;
  auto failed = [&](const Error& e) -> Result<OrphanGuard> {
    for (size_t i = 0; i < wrapped; ++i) {
      (void)set_action(tid, site, kGuarded[i].sig, guard.program_[i],
                       guard.data() + kScratchOffset, deferred_signal);
    }
    (void)guard.take_away(tid, deferred_signal);
    return fail("cannot install rewind's orphan guard: {}", e.message);
  };
  // /proc/TID/mem is the memory of the whole process, and writes pages the process
  // cannot (as a debugger's breakpoints do): the vDSO page becomes the process's own copy.
  std::string bytes(kSize, '\0');
  std::ranges::copy(guard_code(), bytes.begin());
  if (auto s = write_memory(tid, base, bytes); !s) {
    return failed(s.error());
  }
  for (; wrapped < kGuarded.size(); ++wrapped) {
    auto program = guard.wrap(tid, wrapped, deferred_signal);
    if (!program) {
      return failed(program.error());
    }
    guard.program_[wrapped] = *program;
  }
  return guard;
}

// Unmaps the guard's own page, or zeroes its bytes in the vDSO's tail again.
Status OrphanGuard::take_away(pid_t tid, int* deferred_signal) const {
  if (!mapped_) {
    return write_memory(tid, base_, std::string(kSize, '\0'));
  }
  auto rc = run(tid, injection_site(), SYS_munmap, {base_, kPage}, deferred_signal,
                "unmap the orphan guard");
  return rc ? ok() : Status(std::unexpected(rc.error()));
}

Status OrphanGuard::remove(pid_t tid, int* deferred_signal) const {
  InjectionSite site = injection_site();
  uint64_t scratch = data() + kScratchOffset;
  for (size_t i = 0; i < kGuarded.size(); ++i) {
    if (auto s = set_action(tid, site, kGuarded[i].sig, program_[i], scratch, deferred_signal);
        !s) {
      return fail("cannot put back the program's action for signal {}: {}", kGuarded[i].sig,
                  s.error().message);
    }
  }
  return take_away(tid, deferred_signal);
}

Status OrphanGuard::reinstate(pid_t tid, int sig, int* deferred_signal) const {
  auto i = guarded_index(sig);
  if (!i) {
    return ok();
  }
  return set_action(tid, injection_site(), sig, guard_action(*i, program_[*i]),
                    data() + kScratchOffset, deferred_signal);
}

Status OrphanGuard::rewrap(pid_t tid, int sig, int* deferred_signal) {
  auto i = guarded_index(sig);
  if (!i) {
    return ok();
  }
  auto program = wrap(tid, *i, deferred_signal);
  if (!program) {
    return std::unexpected(program.error());
  }
  program_[*i] = *program;
  return ok();
}

const KernelSigaction* OrphanGuard::program_action(int sig) const {
  auto i = guarded_index(sig);
  return i ? &program_[*i] : nullptr;
}

Status OrphanGuard::set_stepping(pid_t pid, bool stepping) const {
  uint64_t word = stepping ? 1 : 0;
  return write_memory(pid, data() + kSteppingOffset, as_bytes(word));
}

Status OrphanGuard::pass_rdtsc_faults(pid_t pid, bool pass) const {
  uint64_t word = pass ? 1 : 0;
  return write_memory(pid, data() + kPassRdtscOffset, as_bytes(word));
}

InjectionSite OrphanGuard::injection_site() const {
  return {base_ + layout_.syscall, data() + kSavedRegsOffset};
}

}  // namespace rwd
