// The orphan guard in a real traced child: the tracer goes away (PTRACE_DETACH without
// undoing anything, as when rewind is killed) and the child must go on as if it had never
// been traced.
#include "tracee/orphan_guard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include <string_view>

#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/target_memory.h"
#include "tracee/test_own_vdso.h"
#include "tracee/vdso_patch.h"

namespace rwd {
namespace {

constexpr int kCleanExit = 42;
constexpr int kHandlerExit = 7;

volatile uintptr_t null_address = 0;

void own_handler(int) { _exit(kHandlerExit); }

__attribute__((no_sanitize("address", "undefined"))) void fault() {
  *reinterpret_cast<volatile int*>(null_address) = 1;
}

enum class Child { kRdtsc, kOwnHandler, kDefaultAction, kSigactionCheck };

// Once its parent has seized it (one byte on `go`), the child stops itself, then does
// what its kind says.
[[noreturn]] void child_main(Child kind, int go) {
  if (kind == Child::kOwnHandler || kind == Child::kSigactionCheck) {
    ::signal(SIGSEGV, own_handler);
  } else {
    ::signal(SIGSEGV, SIG_DFL);  // sanitizer runtimes install their own
  }
  char c;
  if (::read(go, &c, 1) != 1) {
    _exit(1);
  }
  ::raise(SIGSTOP);
  switch (kind) {
    case Child::kRdtsc: {
      uint64_t sum = 0;
      for (int i = 0; i < 1000; ++i) {
        sum += __rdtsc() & 1;
      }
      _exit(sum <= 1000 ? kCleanExit : 1);
    }
    case Child::kOwnHandler:
    case Child::kDefaultAction:
      fault();
      _exit(1);
    case Child::kSigactionCheck: {
      struct sigaction now {};
      ::sigaction(SIGSEGV, nullptr, &now);
      _exit(now.sa_handler == own_handler ? kCleanExit : 1);
    }
  }
  _exit(1);
}

// A child of this test, seized and stopped in its raise(SIGSTOP).
class TracedChild {
 public:
  explicit TracedChild(Child kind) {
    int go[2];
    if (::pipe(go) != 0) {
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      child_main(kind, go[0]);
    }
    ::close(go[0]);
    go_ = go[1];
  }
  ~TracedChild() {
    ::close(go_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // Seizes the child and lets it stop itself: it is then in a signal-delivery-stop.
  bool seize() {
    if (pid_ <= 0 || ::ptrace(PTRACE_SEIZE, pid_, nullptr,
                              reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0) {
      return false;
    }
    if (::write(go_, "g", 1) != 1) {
      return false;
    }
    int status = 0;
    return ::waitpid(pid_, &status, __WALL) == pid_ && WIFSTOPPED(status) &&
           WSTOPSIG(status) == SIGSTOP && (status >> 16) == 0;
  }
  // What the tracer dying does: the child runs on, untraced, with whatever was set up.
  void tracer_gone() { ::ptrace(PTRACE_DETACH, pid_, nullptr, nullptr); }
  // The child's wait status once it ends.
  int finish() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  bool reaped_ = false;
};

// A syscall instruction in this process's vDSO, which the forked child shares.
uint64_t vdso_syscall_site() {
  uint64_t base = 0;
  std::string_view image = own_vdso(base);
  return image.empty() ? 0 : find_syscall_instruction(image, base);
}

// This process's whole vDSO mapping (the forked child's is the same until written).
std::string_view own_vdso_mapping() {
  auto maps = read_maps(::getpid());
  if (!maps) {
    return {};
  }
  for (const auto& m : *maps) {
    if (m.path == "[vdso]") {
      return {reinterpret_cast<const char*>(m.start), m.size()};
    }
  }
  return {};
}

// Every test runs with the guard in the vDSO's tail (what rewind does when the vDSO has
// room) and in a page of its own (the fallback).
class OrphanGuardTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    site_ = vdso_syscall_site();
    ASSERT_NE(site_, 0u) << "this kernel's vDSO has no syscall instruction";
    if (GetParam()) {
      std::string_view vdso = own_vdso_mapping();
      place_ = OrphanGuard::vdso_room(vdso, reinterpret_cast<uint64_t>(vdso.data()));
      if (place_ == 0) {
        GTEST_SKIP() << "this kernel's vDSO has no room for the guard";
      }
    }
  }
  uint64_t site_ = 0;
  uint64_t place_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Placement, OrphanGuardTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "InVdso" : "OwnPage"; });

TEST_P(OrphanGuardTest, TrappedRdtscRunsAfterTheTracerIsGone) {
  TracedChild child(Child::kRdtsc);
  ASSERT_TRUE(child.seize());
  auto guard = OrphanGuard::install(child.pid(), place_, site_, nullptr);
  ASSERT_TRUE(guard) << guard.error().message;
  auto rc = inject_syscall(child.pid(), guard->injection_site(), SYS_prctl,
                           {PR_SET_TSC, PR_TSC_SIGSEGV});
  ASSERT_TRUE(rc && *rc == 0);
  child.tracer_gone();
  int status = child.finish();
  ASSERT_TRUE(WIFEXITED(status)) << "the child died by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), kCleanExit);
}

TEST_P(OrphanGuardTest, RealFaultReachesTheProgramsHandler) {
  TracedChild child(Child::kOwnHandler);
  ASSERT_TRUE(child.seize());
  auto guard = OrphanGuard::install(child.pid(), place_, site_, nullptr);
  ASSERT_TRUE(guard) << guard.error().message;
  EXPECT_EQ(guard->program_action(SIGSEGV)->handler, reinterpret_cast<uint64_t>(own_handler));
  child.tracer_gone();
  int status = child.finish();
  ASSERT_TRUE(WIFEXITED(status)) << "the child died by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), kHandlerExit);
}

TEST_P(OrphanGuardTest, RealFaultWithoutHandlerStillKillsBySigsegv) {
  TracedChild child(Child::kDefaultAction);
  ASSERT_TRUE(child.seize());
  auto guard = OrphanGuard::install(child.pid(), place_, site_, nullptr);
  ASSERT_TRUE(guard) << guard.error().message;
  child.tracer_gone();
  int status = child.finish();
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
}

TEST_P(OrphanGuardTest, ThreadLeftInAnInjectedSyscallResumesWhereItWas) {
  TracedChild child(Child::kRdtsc);
  ASSERT_TRUE(child.seize());
  auto guard = OrphanGuard::install(child.pid(), place_, site_, nullptr);
  ASSERT_TRUE(guard) << guard.error().message;
  // What inject_syscall does up to the syscall, then the tracer goes away.
  auto regs = get_regs(child.pid());
  ASSERT_TRUE(regs);
  InjectionSite site = guard->injection_site();
  ASSERT_TRUE(write_memory(child.pid(), site.save_area,
                           std::string_view(reinterpret_cast<const char*>(&*regs), sizeof *regs)));
  user_regs_struct injected = *regs;
  injected.rip = site.syscall_insn;
  injected.rax = SYS_getpid;
  injected.rdi = injected.rsi = injected.rdx = 0xdead;
  ASSERT_TRUE(set_regs(child.pid(), injected));
  child.tracer_gone();
  int status = child.finish();
  ASSERT_TRUE(WIFEXITED(status)) << "the child died by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), kCleanExit);
}

TEST_P(OrphanGuardTest, RemovePutsTheProgramsActionBack) {
  TracedChild child(Child::kSigactionCheck);
  ASSERT_TRUE(child.seize());
  auto guard = OrphanGuard::install(child.pid(), place_, site_, nullptr);
  ASSERT_TRUE(guard) << guard.error().message;
  ASSERT_TRUE(guard->remove(child.pid(), nullptr));
  child.tracer_gone();
  int status = child.finish();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kCleanExit);
}

// In the vDSO, no syscall runs in the target to place the guard, and removing it leaves
// the vDSO's bytes and the process's mappings as they were.
TEST(OrphanGuardInVdso, MapsNothingAndLeavesNothingBehind) {
  std::string_view vdso = own_vdso_mapping();
  uint64_t place_ = OrphanGuard::vdso_room(vdso, reinterpret_cast<uint64_t>(vdso.data()));
  if (place_ == 0) {
    GTEST_SKIP() << "this kernel's vDSO has no room for the guard";
  }
  TracedChild child(Child::kSigactionCheck);
  ASSERT_TRUE(child.seize());
  auto maps_before = read_maps(child.pid());
  ASSERT_TRUE(maps_before);
  auto guard = OrphanGuard::install(child.pid(), place_, 0, nullptr);
  ASSERT_TRUE(guard) << guard.error().message;
  EXPECT_EQ(guard->base(), place_);
  auto maps_during = read_maps(child.pid());
  ASSERT_TRUE(maps_during);
  EXPECT_EQ(maps_during->size(), maps_before->size());
  std::string during;
  ASSERT_TRUE(TargetMemory(child.pid()).read(place_, OrphanGuard::kSize, during));
  EXPECT_NE(during.find_first_not_of('\0'), std::string::npos) << "the guard is not there";
  ASSERT_TRUE(guard->remove(child.pid(), nullptr));
  std::string after;
  ASSERT_TRUE(TargetMemory(child.pid()).read(reinterpret_cast<uint64_t>(vdso.data()),
                                             vdso.size(), after));
  EXPECT_EQ(after, vdso);
  child.tracer_gone();
  int status = child.finish();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kCleanExit);
}

TEST(OrphanGuardInVdso, RoomIsAfterEverythingTheImageUses) {
  std::string_view vdso = own_vdso_mapping();
  if (vdso.empty()) {
    GTEST_SKIP() << "no vDSO";
  }
  uint64_t start = reinterpret_cast<uint64_t>(vdso.data());
  uint64_t place = OrphanGuard::vdso_room(vdso, start);
  if (place == 0) {
    GTEST_SKIP() << "this kernel's vDSO has no room for the guard";
  }
  uint64_t base = 0;
  std::string_view elf = own_vdso(base);  // up to the end of its section table
  EXPECT_GE(place, start + elf.size());
  EXPECT_LE(place + OrphanGuard::kSize, start + vdso.size());
  EXPECT_EQ(vdso.substr(place - start).find_first_not_of('\0'), std::string_view::npos);
  // A full image has no room.
  std::string full(vdso);
  full.back() = 1;
  EXPECT_EQ(OrphanGuard::vdso_room(full, start), 0u);
}

// A replay finds the guard where the recording's rewind put its parts, which another
// rewind's code need not match: an adopted guard works from the layout it is given.
TEST(OrphanGuardLayout, AdoptedGuardUsesTheRecordingsLayout) {
  constexpr uint64_t kBase = 0x700000001000;
  auto old = OrphanGuard::adopt(kBase, OrphanGuard::kOriginalLayout);
  EXPECT_EQ(old.injection_site().syscall_insn, kBase + 0xf3);
  EXPECT_EQ(old.data(), kBase + 4096);
  EXPECT_EQ(old.injection_site().save_area, kBase + 4096 + 128);
  auto now = OrphanGuard::adopt(kBase, OrphanGuard::current_layout());
  EXPECT_EQ(now.data(), kBase + OrphanGuard::kCodeSize);
  EXPECT_LT(now.layout().syscall, OrphanGuard::kCodeSize);
}

}  // namespace
}  // namespace rwd
