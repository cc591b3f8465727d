#include "tracee/orphan_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <array>
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
// The data page (orphan_guard.S has the same layout): the program's actions, which the
// guard passes signals on to; the stepping word; a scratch action for the rt_sigaction
// calls rewind makes; the registers of a thread running an injected syscall.
constexpr uint64_t kSteppingOffset = kPage + 64;
constexpr uint64_t kScratchOffset = kPage + 96;
constexpr uint64_t kSavedRegsOffset = kPage + 128;
constexpr uint64_t kSaRestorer = 0x04000000;

// The signals the guard handles: its handler for each, and where the data page keeps
// the program's action (OrphanGuard::program_ has the same order).
struct Guarded {
  int sig;
  const char* handler;
  uint64_t program_offset;
};
const std::array<Guarded, 2> kGuarded = {{{SIGSEGV, rwd_orphan_guard_segv, kPage},
                                          {SIGTRAP, rwd_orphan_guard_trap, kPage + 32}}};

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

InjectionSite site_at(uint64_t base) {
  return {base + code_offset(rwd_orphan_guard_syscall), base + kSavedRegsOffset};
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

Result<KernelSigaction> get_action(pid_t tid, const InjectionSite& site, int sig,
                                   uint64_t scratch, int* deferred_signal) {
  auto rc = run(tid, site, SYS_rt_sigaction, {uint64_t(sig), 0, scratch, 8}, deferred_signal,
                "read a signal action");
  if (!rc) {
    return std::unexpected(rc.error());
  }
  KernelSigaction action;
  if (TargetMemory(tid).read_into(scratch, &action, sizeof action) != sizeof action) {
    return fail("cannot read the action of signal {} in thread {}", sig, tid);
  }
  return action;
}

// The action that puts the guard in front of the program's: the guard takes the
// program's flags and mask, so that the kernel delivers to it as it would to the program
// (same stack, same blocked signals).
KernelSigaction guard_action(uint64_t base, const Guarded& g, const KernelSigaction& program) {
  KernelSigaction guard = program;
  guard.handler = base + code_offset(g.handler);
  guard.flags |= SA_SIGINFO;
  if ((guard.flags & kSaRestorer) == 0) {
    guard.flags |= kSaRestorer;
    guard.restorer = base + code_offset(rwd_orphan_guard_restorer);
  }
  return guard;
}

// Makes the guard's handler the action for g.sig, with the program's action saved in the
// data page for the guard to pass the signal on to; returns the program's action.
Result<KernelSigaction> wrap(pid_t tid, const InjectionSite& site, uint64_t base,
                             const Guarded& g, int* deferred_signal) {
  uint64_t scratch = base + kScratchOffset;
  auto program = get_action(tid, site, g.sig, scratch, deferred_signal);
  if (!program) {
    return std::unexpected(program.error());
  }
  if (auto s = write_memory(tid, base + g.program_offset, as_bytes(*program)); !s) {
    return std::unexpected(s.error());
  }
  if (auto s = set_action(tid, site, g.sig, guard_action(base, g, *program), scratch,
                         deferred_signal);
      !s) {
    return std::unexpected(s.error());
  }
  return *program;
}

}  // namespace

Result<OrphanGuard> OrphanGuard::install(pid_t tid, uint64_t first_site, int* deferred_signal) {
  // The only syscall not run on the guard's own instruction: the one that maps it.
  auto mapped = run(tid, InjectionSite{first_site, 0}, SYS_mmap,
                    {0, kSize, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                     static_cast<uint64_t>(-1), 0},
                    deferred_signal, "map the orphan guard");
  if (!mapped) {
    return std::unexpected(mapped.error());
  }
  uint64_t base = static_cast<uint64_t>(*mapped);
  InjectionSite site = site_at(base);
  OrphanGuard guard(base);
  size_t wrapped = 0;
  auto failed = [&](const Error& e) -> Result<OrphanGuard> {
    for (size_t i = 0; i < wrapped; ++i) {
      (void)set_action(tid, site, kGuarded[i].sig, guard.program_[i], base + kScratchOffset,
                       deferred_signal);
    }
    (void)inject_syscall(tid, first_site, SYS_munmap, {base, kSize}, deferred_signal);
    return fail("cannot install rewind's orphan guard: {}", e.message);
  };
  // /proc/TID/mem is the memory of the whole process.
  if (auto s = write_memory(tid, base, guard_code()); !s) {
    return failed(s.error());
  }
  if (auto rc = run(tid, site, SYS_mprotect, {base + kPage, kPage, PROT_READ | PROT_WRITE},
                    deferred_signal, "make the orphan guard's data writable");
      !rc) {
    return failed(rc.error());
  }
  for (; wrapped < kGuarded.size(); ++wrapped) {
    auto program = wrap(tid, site, base, kGuarded[wrapped], deferred_signal);
    if (!program) {
      return failed(program.error());
    }
    guard.program_[wrapped] = *program;
  }
  return guard;
}

Status OrphanGuard::remove(pid_t tid, int* deferred_signal) const {
  InjectionSite site = injection_site();
  uint64_t scratch = base_ + kScratchOffset;
  for (size_t i = 0; i < kGuarded.size(); ++i) {
    if (auto s = set_action(tid, site, kGuarded[i].sig, program_[i], scratch, deferred_signal);
        !s) {
      return fail("cannot put back the program's action for signal {}: {}", kGuarded[i].sig,
                  s.error().message);
    }
  }
  if (auto rc = run(tid, site, SYS_munmap, {base_, kSize}, deferred_signal,
                    "unmap the orphan guard");
      !rc) {
    return std::unexpected(rc.error());
  }
  return ok();
}

Status OrphanGuard::reinstate(pid_t tid, int sig, int* deferred_signal) const {
  auto i = guarded_index(sig);
  if (!i) {
    return ok();
  }
  return set_action(tid, injection_site(), sig, guard_action(base_, kGuarded[*i], program_[*i]),
                    base_ + kScratchOffset, deferred_signal);
}

Status OrphanGuard::rewrap(pid_t tid, int sig, int* deferred_signal) {
  auto i = guarded_index(sig);
  if (!i) {
    return ok();
  }
  auto program = wrap(tid, injection_site(), base_, kGuarded[*i], deferred_signal);
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
  return write_memory(pid, base_ + kSteppingOffset, as_bytes(word));
}

InjectionSite OrphanGuard::injection_site() const { return site_at(base_); }

}  // namespace rwd
