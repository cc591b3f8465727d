#include "replay/in_process_breakpoint.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"

// The loop the tests stop in, in assembly so that the tests know its instructions:
// x = x * 3 + i + bias for i in [0, n). rcx holds i, so at the N-th pass (from 1) through
// any instruction of the body rcx is N-1. The scratch registers are cleared first, so
// that two children have equal registers at equal passes. Each point covers one kind of patch:
// plain instructions, a rip-relative operand, and a cmp followed by the loop's jcc.
extern "C" {
uint64_t ipb_loop(uint64_t n);
// The child after its stop: clears every register the C++ around it may have left
// (values differ from one fork site to another, and raise() leaves the child's pid),
// runs ipb_loop(n) and exits 0 iff it returned `expected`.
[[noreturn]] void ipb_child_run(uint64_t n, uint64_t expected);
extern const char ipb_point_plain[];
extern const char ipb_point_rip_relative[];
extern const char ipb_point_jcc[];
extern const char ipb_jcc_branch[];  // the jb that ipb_point_jcc's patch displaces
// Code the breakpoint must refuse to patch (never run).
extern const char ipb_refuse_jrcxz[];
extern const char ipb_refuse_into_middle[];
extern const char ipb_refuse_call[];
}

asm(R"(
  .intel_syntax noprefix
  .text
  .p2align 4
  .globl ipb_loop, ipb_point_plain, ipb_point_rip_relative, ipb_point_jcc, ipb_jcc_branch
  .globl ipb_child_run
  .type ipb_child_run, @function
ipb_child_run:
  sub rsp, 8
  mov r12, rsi
  xor ebx, ebx
  xor ebp, ebp
  xor r13d, r13d
  xor r14d, r14d
  xor r15d, r15d
  call ipb_loop
  xor edi, edi
  cmp rax, r12
  setne dil
  call _exit@PLT
  .size ipb_child_run, . - ipb_child_run
  .type ipb_loop, @function
ipb_loop:
  xor edx, edx
  xor esi, esi
  xor r8d, r8d
  xor r9d, r9d
  xor r10d, r10d
  xor r11d, r11d
  mov eax, 1
  xor ecx, ecx
  test rdi, rdi
  je 2f
1:
ipb_point_plain:
  lea rax, [rax + rax * 2]
  add rax, rcx
ipb_point_rip_relative:
  add rax, qword ptr [rip + ipb_bias]
  add rcx, 1
ipb_point_jcc:
  cmp rcx, rdi
ipb_jcc_branch:
  jb 1b
2:
  ret
  .size ipb_loop, . - ipb_loop

  .globl ipb_refuse_jrcxz, ipb_refuse_into_middle, ipb_refuse_call
ipb_refuse_jrcxz:
  nop
  jrcxz 3f
  nop
  nop
  nop
3:
  ret
ipb_refuse_into_middle:
  xor eax, eax
4:
  inc eax
  cmp eax, 10
  jne 4b
  ret
ipb_refuse_call:
  call ipb_refuse_jrcxz
  ret

  .data
  .p2align 3
ipb_bias:
  .quad 7
  .text
  .att_syntax prefix
)");

namespace rwd {
namespace {

constexpr uint64_t kPasses = 50'000'000;
constexpr uint64_t kWantedPass = 1000;
constexpr uint64_t kResumeFlag = 0x10000;
constexpr uint64_t kIgnoredFlags = kResumeFlag | 0x100;  // RF, TF

uint64_t addr_of(const char* symbol) { return reinterpret_cast<uint64_t>(symbol); }

// A traced fork of the test that stops (SIGSTOP) before running ipb_loop(kPasses), then
// exits 0 iff the result is what the loop computes untraced. Always started from the
// same frame, so that both children of a test have the same stack.
class LoopChild {
 public:
  __attribute__((noinline)) LoopChild() {
    uint64_t expected = ipb_loop(kPasses);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      ::raise(SIGSTOP);
      ipb_child_run(kPasses, expected);
    }
    int status = 0;
    stopped_ = ::waitpid(pid_, &status, __WALL) == pid_ && WIFSTOPPED(status) &&
               WSTOPSIG(status) == SIGSTOP;
    // As the replayer traces: syscall stops tell themselves apart (inject_syscall needs
    // it), and the child dies with the test.
    ::ptrace(PTRACE_SETOPTIONS, pid_, nullptr,
             reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
  }
  LoopChild(const LoopChild&) = delete;
  LoopChild& operator=(const LoopChild&) = delete;
  ~LoopChild() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, __WALL);
    }
  }

  pid_t pid() const { return pid_; }
  bool stopped() const { return stopped_; }

  // Continues and waits for the next stop or the exit.
  int cont() {
    ::ptrace(PTRACE_CONT, pid_, nullptr, nullptr);
    int status = 0;
    ::waitpid(pid_, &status, __WALL);
    exited_ = WIFEXITED(status) || WIFSIGNALED(status);
    return status;
  }

 private:
  pid_t pid_ = 0;
  bool stopped_ = false;
  bool exited_ = false;
};

// The registers of the child at the `pass`-th visit of `addr`, found the slow way: a
// hardware breakpoint (DR0) that stops every pass, as replay does without this
// component.
Result<user_regs_struct> regs_at_pass(LoopChild& child, uint64_t addr, uint64_t pass) {
  constexpr auto dr = [](int i) {
    return reinterpret_cast<void*>(offsetof(struct user, u_debugreg) + i * sizeof(long));
  };
  if (::ptrace(PTRACE_POKEUSER, child.pid(), dr(0), reinterpret_cast<void*>(addr)) != 0 ||
      ::ptrace(PTRACE_POKEUSER, child.pid(), dr(7), reinterpret_cast<void*>(1)) != 0) {
    return fail_errno(errno, "cannot set DR0");
  }
  for (uint64_t seen = 1;; ++seen) {
    int status = child.cont();
    if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
      return fail("the child did not stop at {:#x} (status {:#x})", addr, status);
    }
    auto regs = get_regs(child.pid());
    if (!regs || regs->rip != addr) {
      return fail("the child stopped elsewhere");
    }
    if (seen == pass) {
      ::ptrace(PTRACE_POKEUSER, child.pid(), dr(7), nullptr);
      return regs;
    }
    regs->eflags |= kResumeFlag;  // run the instruction without stopping again
    if (auto s = set_regs(child.pid(), *regs); !s) {
      return std::unexpected(s.error());
    }
  }
}

void expect_same_regs(const user_regs_struct& want, const user_regs_struct& got) {
  user_regs_struct a = want, b = got;
  a.eflags &= ~kIgnoredFlags;
  b.eflags &= ~kIgnoredFlags;
  EXPECT_EQ(a.rip, b.rip);
  EXPECT_EQ(a.rcx, b.rcx);
  EXPECT_EQ(a.rax, b.rax);
  EXPECT_EQ(a.eflags, b.eflags);
  EXPECT_EQ(0, std::memcmp(&a, &b, sizeof a)) << "some register differs";
}

bool has_mapping_at(pid_t pid, uint64_t addr) {
  auto maps = read_maps(pid);
  if (!maps) {
    return false;
  }
  for (const auto& m : *maps) {
    if (m.start <= addr && addr < m.end) {
      return true;
    }
  }
  return false;
}

// Stops a fresh child at kWantedPass through `point` with the in-process breakpoint,
// checks the registers against the slow way's, and lets it finish.
void stop_at_wanted_pass(uint64_t point) {
  user_regs_struct want{};
  {
    LoopChild probe;
    ASSERT_TRUE(probe.stopped());
    auto regs = regs_at_pass(probe, point, kWantedPass);
    ASSERT_TRUE(regs) << regs.error().message;
    want = *regs;
  }
  ASSERT_EQ(want.rcx, point == addr_of(ipb_point_jcc) ? kWantedPass : kWantedPass - 1);

  LoopChild child;
  ASSERT_TRUE(child.stopped());
  auto bp = InProcessBreakpoint::install(child.pid(), child.pid(), point, want);
  ASSERT_TRUE(bp) << bp.error().message;
  EXPECT_GE(bp->patched_len(), 5u);
  uint64_t page = bp->page();
  EXPECT_TRUE(has_mapping_at(child.pid(), page));
  int64_t distance = static_cast<int64_t>(page - point);
  EXPECT_LT(std::abs(distance), int64_t{1} << 31);

  int status = child.cont();
  ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) << "status " << status;
  auto regs = get_regs(child.pid());
  ASSERT_TRUE(regs);
  ASSERT_TRUE(bp->is_hit(*regs)) << std::hex << regs->rip;
  ASSERT_TRUE(bp->finish_hit(child.pid(), *regs));
  auto now = get_regs(child.pid());
  ASSERT_TRUE(now);
  expect_same_regs(want, *now);

  ASSERT_TRUE(bp->remove(child.pid()));
  EXPECT_FALSE(has_mapping_at(child.pid(), page));
  auto after = get_regs(child.pid());
  ASSERT_TRUE(after);
  expect_same_regs(want, *after);  // munmap ran and left no trace
  status = child.cont();
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the loop computed a different result";
}

TEST(InProcessBreakpoint, StopsAtTheRecordedPassWithTheRecordedRegisters) {
  stop_at_wanted_pass(addr_of(ipb_point_plain));
}

TEST(InProcessBreakpoint, RebasesRipRelativeOperands) {
  stop_at_wanted_pass(addr_of(ipb_point_rip_relative));
}

TEST(InProcessBreakpoint, ReencodesAConditionalJumpItDisplaces) {
  stop_at_wanted_pass(addr_of(ipb_point_jcc));
}

TEST(InProcessBreakpoint, MovesAThreadStoppedInsideThePatchToTheCopy) {
  uint64_t point = addr_of(ipb_point_jcc);
  user_regs_struct want{};
  {
    LoopChild probe;
    ASSERT_TRUE(probe.stopped());
    auto regs = regs_at_pass(probe, point, kWantedPass);
    ASSERT_TRUE(regs) << regs.error().message;
    want = *regs;
  }
  LoopChild child;
  ASSERT_TRUE(child.stopped());
  // As after a signal that came at the jb: the thread sits on the second displaced
  // instruction, one pass before the wanted one.
  auto inside = regs_at_pass(child, addr_of(ipb_jcc_branch), kWantedPass - 1);
  ASSERT_TRUE(inside) << inside.error().message;
  auto bp = InProcessBreakpoint::install(child.pid(), child.pid(), point, want);
  ASSERT_TRUE(bp) << bp.error().message;
  auto moved = get_regs(child.pid());
  ASSERT_TRUE(moved);
  EXPECT_GE(moved->rip, bp->page());
  EXPECT_LT(moved->rip, bp->page() + 4096);
  int status = child.cont();
  ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) << "status " << status;
  auto regs = get_regs(child.pid());
  ASSERT_TRUE(regs && bp->is_hit(*regs));
  ASSERT_TRUE(bp->finish_hit(child.pid(), *regs));
  expect_same_regs(want, *regs);
  ASSERT_TRUE(bp->remove(child.pid()));
  status = child.cont();
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(InProcessBreakpoint, ResumingFromAHitRunsTheOriginalCode) {
  uint64_t point = addr_of(ipb_point_plain);
  user_regs_struct want{};
  {
    LoopChild probe;
    ASSERT_TRUE(probe.stopped());
    auto regs = regs_at_pass(probe, point, kWantedPass);
    ASSERT_TRUE(regs) << regs.error().message;
    want = *regs;
  }
  LoopChild child;
  ASSERT_TRUE(child.stopped());
  auto bp = InProcessBreakpoint::install(child.pid(), child.pid(), point, want);
  ASSERT_TRUE(bp) << bp.error().message;
  int status = child.cont();
  ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP);
  auto regs = get_regs(child.pid());
  ASSERT_TRUE(regs && bp->is_hit(*regs));
  // As a caller does when the registers match but the stack hash does not: go on with
  // the patch in place. No pass matches again, and the result is unchanged.
  status = child.cont();
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(InProcessBreakpoint, RefusesCodeItCannotPatchSafely) {
  LoopChild child;
  ASSERT_TRUE(child.stopped());
  auto before = get_regs(child.pid());
  ASSERT_TRUE(before);
  user_regs_struct want{};
  struct Case {
    const char* symbol;
    const char* reason;
  };
  for (auto [symbol, reason] : {Case{ipb_refuse_jrcxz, "jrcxz"},
                                Case{ipb_refuse_into_middle, "inside the"},
                                Case{ipb_refuse_call, "a call"}}) {
    auto bp = InProcessBreakpoint::install(child.pid(), child.pid(), addr_of(symbol), want);
    ASSERT_FALSE(bp) << reason;
    EXPECT_NE(bp.error().message.find(reason), std::string::npos) << bp.error().message;
  }
  auto heap = InProcessBreakpoint::install(child.pid(), child.pid(),
                                           reinterpret_cast<uint64_t>(&want), want);
  ASSERT_FALSE(heap);
  EXPECT_NE(heap.error().message.find("not in an executable mapping"), std::string::npos);
  auto after = get_regs(child.pid());
  ASSERT_TRUE(after);
  EXPECT_EQ(0, std::memcmp(&*before, &*after, sizeof *after));
  // Nothing was patched: the child still computes the right result.
  int status = child.cont();
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace rwd
