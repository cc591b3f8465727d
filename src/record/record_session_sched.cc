// RecordSession's serialized execution and what replay needs from the recording.
//
// Only one thread runs user code at a time (the owner). A thread that enters a syscall
// likely to block, or stays in the kernel longer than kBlockThreshold, gives the CPU
// away and a syscall-entry event marks the place; a thread that runs user code longer
// than kTimeslice while others wait is interrupted and a point event saves exactly where
// (registers and a stack hash: no branch counter is needed). The event log is then the
// schedule, and replay follows it.
#include <asm/prctl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "common/log.h"
#include "record/record_session.h"
#include "tracee/proc_info.h"
#include "tracee/robust_list.h"
#include "tracee/ptrace_ops.h"
#include "tracee/signals.h"
#include "tracee/syscall_table.h"

namespace rwd {

namespace {

using namespace std::chrono_literals;

constexpr auto kTimeslice = 100ms;
// After its slice a thread gives up the CPU at its next syscall; only one that makes
// none for this much longer is interrupted (a point in a syscall-free loop is the
// costly kind to replay).
constexpr auto kInterruptGrace = 100ms;
constexpr auto kBlockThreshold = 1ms;
// Largest file mapping whose contents are saved for replay.
constexpr uint64_t kMaxMappedCapture = 64ull << 20;
// What a vfork child can have written on its parent's stack: this much below the stack
// pointer, and up to this much in all.
constexpr uint64_t kVforkStackBelow = 64ull << 10;
constexpr uint64_t kVforkStackCapture = 1ull << 20;
// The data mappings compared before and after a vfork, at most.
constexpr uint64_t kVforkDataCapture = 16ull << 20;
// The most of a refused MADV_DONTNEED's range recorded (its pages before the refusal).
constexpr uint64_t kRefusedMadviseCapture = 16ull << 20;
constexpr size_t kPageSize = 4096;

constexpr int kRseqUnregister = 1;

// Syscalls that usually wait (kSysBlocking in the syscall table): their thread gives up
// the CPU as it enters them. A futex blocks only for its wait operations.
bool blocks_right_away(const Event& e) {
  if (e.sysno == SYS_futex) {
    uint64_t op = e.args[1] & ~uint64_t{128 | 256};  // PRIVATE, CLOCK_REALTIME
    return op == 0 || op == 6 || op == 9 || op == 11;  // WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI
  }
  if (e.sysno == SYS_sched_yield) {
    return true;  // not blocking, but a request to let the others run
  }
  const SyscallInfo* si = syscall_info(e.sysno);
  return si != nullptr && (si->flags & kSysBlocking) != 0;
}

// exit and exit_group never block, however long they take to reach their exit stop: a
// thread in them keeps the CPU, or another thread could run while the kernel clears the
// exiting thread's tid (CLONE_CHILD_CLEARTID), a moment replay cannot place. A
// successful exec ends every other thread and replaces the image: replay meets it as one
// event of the calling thread, so that thread keeps the CPU too.
bool ends_thread(const Event& e) {
  return e.sysno == SYS_exit || e.sysno == SYS_exit_group || e.sysno == SYS_execve ||
         e.sysno == SYS_execveat;
}

}  // namespace

// ---- the scheduler ----------------------------------------------------------------

void RecordSession::enqueue(Thread& t) {
  if (t.awaits_clone_return) {
    return;  // release_new_thread queues it
  }
  if (!t.queued) {
    t.queued = true;
    run_queue_.push_back(t.tid);
  }
}

void RecordSession::release_new_thread(Thread& parent) {
  auto it = threads_.find(parent.new_thread);
  parent.new_thread = 0;
  if (it == threads_.end()) {
    return;
  }
  Thread& child = *it->second;
  child.awaits_clone_return = false;
  if (child.stopped) {
    enqueue(child);
  }
}

void RecordSession::dispatch(Thread& t) {
  if (!t.stopped || finished_) {
    return;
  }
  if (t.in_syscall || t.preempt_skip || t.exiting || mode_ == Mode::kPreExec) {
    resume(t);  // inside the kernel, not running user code: let it go on
    return;
  }
  if (t.tid == owner_) {
    if (!t.held_at_end) {
      resume(t);
    }
    return;
  }
  enqueue(t);
}

void RecordSession::yield_cpu(Thread& owner) {
  if (owner.in_syscall) {
    Event e;
    e.type = EventType::kSyscallEntry;
    e.tid = static_cast<uint32_t>(owner.tid);
    e.time_ns = now_ns();
    e.sysno = owner.syscall.sysno;
    e.args = owner.syscall.args;
    record(e);
  }
  owner_ = 0;
  owner_in_syscall_ = false;
}

void RecordSession::schedule() {
  if (finished_ || stop_deadline_) {
    return;  // stopping: nobody new gets the CPU
  }
  auto now = std::chrono::steady_clock::now();
  if (owner_ != 0 && !threads_.count(owner_)) {
    owner_ = 0;
    owner_in_syscall_ = false;
  }
  if (owner_ != 0 && !run_queue_.empty()) {
    Thread& o = *threads_[owner_];
    if (owner_in_syscall_ && now - owner_syscall_since_ >= kBlockThreshold &&
        !ends_thread(o.syscall)) {
      yield_cpu(o);
    } else if (!owner_in_syscall_ && !o.stopped && !o.interrupt_pending &&
               now - owner_since_ >= kTimeslice + kInterruptGrace) {
      if (::ptrace(PTRACE_INTERRUPT, o.tid, nullptr, nullptr) == 0) {
        o.interrupt_pending = true;
      }
    }
  }
  while (owner_ == 0 && !run_queue_.empty()) {
    pid_t next = run_queue_.front();
    run_queue_.pop_front();
    auto it = threads_.find(next);
    if (it == threads_.end()) {
      continue;
    }
    Thread& t = *it->second;
    t.queued = false;
    if (!t.stopped) {
      continue;
    }
    owner_ = next;
    owner_since_ = now;
    owner_in_syscall_ = false;
    resume(t);
  }
}

std::chrono::microseconds RecordSession::wait_budget() const {
  std::chrono::microseconds budget = 50ms;
  if (owner_ == 0 || run_queue_.empty()) {
    return budget;
  }
  auto now = std::chrono::steady_clock::now();
  if (auto it = threads_.find(owner_);
      owner_in_syscall_ && it != threads_.end() && ends_thread(it->second->syscall)) {
    return budget;
  }
  auto left = owner_in_syscall_ ? owner_syscall_since_ + kBlockThreshold - now
                                : owner_since_ + kTimeslice + kInterruptGrace - now;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(left);
  return std::clamp<std::chrono::microseconds>(us, 100us, budget);
}

void RecordSession::on_owner_syscall_entry(Thread& t) {
  if (t.tid != owner_) {
    return;
  }
  auto now = std::chrono::steady_clock::now();
  owner_in_syscall_ = true;
  owner_syscall_since_ = now;
  bool exec = t.syscall.sysno == SYS_execve || t.syscall.sysno == SYS_execveat;
  // A thread's exit keeps the CPU too, as in schedule(): its tid is cleared for
  // pthread_join only after its exit stop.
  if (!run_queue_.empty() && !exec && !ends_thread(t.syscall) &&
      (blocks_right_away(t.syscall) || now - owner_since_ >= kTimeslice)) {
    yield_cpu(t);
  }
}

// ---- points, rdtsc, mapped files --------------------------------------------------

void RecordSession::record_point(Thread& t, PointReason reason, const siginfo_t* si,
                                 const user_regs_struct* regs) {
  user_regs_struct r{};
  if (regs != nullptr) {
    r = *regs;
  } else if (auto got = get_regs(t.tid)) {
    r = *got;
  } else {
    return;
  }
  settle_in_stub(t.tid, r);
  Event e;
  e.type = EventType::kPoint;
  e.tid = static_cast<uint32_t>(t.tid);
  e.time_ns = now_ns();
  e.reason = reason;
  e.regs = regs_bytes(r);
  e.stack_hash = stack_hash(pid_, r.rsp);
  if (si != nullptr) {
    e.siginfo.assign(reinterpret_cast<const char*>(si), sizeof *si);
  }
  record(e);
}

// A trapped rdtsc raises SIGSEGV as a fault, which the kernel forces through: in a thread
// that blocks SIGSEGV it unblocks it and resets the process's SIGSEGV action (rewind's
// orphan guard, in front of the program's action) to the default, before rewind sees the
// fault. Left so, the program would find SIGSEGV unblocked, and should rewind die, the
// next trapped rdtsc in any thread would kill it. Whether that happened shows in the
// action (the guard's handler is always installed): the guard goes back and SIGSEGV into
// the thread's mask.
void RecordSession::undo_forced_segv(Thread& t) {
  if (!orphan_guard_) {
    return;
  }
  bool reset = t.segv_mask == Thread::SegvMask::kBlocked;
  if (!reset) {
    auto status = read_status(pid_);
    if (!status) {
      return;
    }
    reset = (status->sig_caught & signal_bit(SIGSEGV)) == 0;
  }
  if (!reset) {
    t.segv_mask = Thread::SegvMask::kUnblocked;
    return;
  }
  int deferred = 0;
  if (auto s = orphan_guard_->reinstate(t.tid, SIGSEGV, &deferred); !s) {
    warn_once("segv-reset",
              fmt::format("an rdtsc in thread {}, which blocks SIGSEGV, reset the SIGSEGV "
                          "action, and rewind could not put it back: {}",
                          t.tid, s.error().message));
  }
  uint64_t mask = 0;
  if (::ptrace(PTRACE_GETSIGMASK, t.tid, sizeof mask, &mask) == 0) {
    mask |= signal_bit(SIGSEGV);
    ::ptrace(PTRACE_SETSIGMASK, t.tid, sizeof mask, &mask);
  }
  t.segv_mask = Thread::SegvMask::kBlocked;
  keep_deferred(t, deferred);
}

// At a syscall's exit: after the calls that change the signal mask, what it now says of
// SIGSEGV (sigsuspend and the p-variants of the waits put their mask back later, when
// the signal handler returns: unknown until then).
void RecordSession::note_signal_mask(Thread& t) {
  switch (t.syscall.sysno) {
    case SYS_rt_sigprocmask:
    case SYS_rt_sigreturn:
    case SYS_execve:
    case SYS_execveat: {
      uint64_t mask = 0;
      if (::ptrace(PTRACE_GETSIGMASK, t.tid, sizeof mask, &mask) != 0) {
        t.segv_mask = Thread::SegvMask::kUnknown;
      } else {
        t.segv_mask = (mask & signal_bit(SIGSEGV)) != 0 ? Thread::SegvMask::kBlocked
                                                            : Thread::SegvMask::kUnblocked;
      }
      return;
    }
    case SYS_rt_sigsuspend:
    case SYS_pselect6:
    case SYS_ppoll:
    case SYS_epoll_pwait:
    case SYS_epoll_pwait2:
      t.segv_mask = Thread::SegvMask::kUnknown;
      return;
    default:
      return;
  }
}

void RecordSession::capture_mapped_file(Event& e) {
  bool failed = e.result < 0 && e.result > -4096;
  uint64_t flags = e.args[3];
  if (failed || (flags & MAP_ANONYMOUS) || static_cast<int>(e.args[4]) < 0 || !mem_) {
    return;
  }
  note_mapped_file(static_cast<int>(e.args[4]));
  if ((flags & MAP_SHARED) && (e.args[2] & PROT_WRITE)) {
    warn_once("shared-file-map",
              "the target maps a file shared and writable: writes to it by other processes "
              "are not recorded and replay sees only the contents at the time of mapping");
  }
  // The kernel maps whole pages: the file's bytes past `len` in the last page are there
  // too (code can run on into them: syscall_in_writable_mem).
  uint64_t len = (e.args[1] + kPageSize - 1) & ~(kPageSize - 1);
  if (len > kMaxMappedCapture) {
    warn_once("big-file-map",
              fmt::format("the target mapped {} bytes of a file; only the first {} are saved "
                          "for replay",
                          len, kMaxMappedCapture));
    len = kMaxMappedCapture;
  }
  std::string bytes;
  // Pages past the end of the file cannot be read and stay zero in replay.
  if (mem_->read(static_cast<uint64_t>(e.result), len, bytes) && !bytes.empty()) {
    e.outputs.push_back({static_cast<uint64_t>(e.result), std::move(bytes)});
  }
}

// ---- one CPU ------------------------------------------------------------------------
//
// Execution is serialized anyway, and every stop is a switch between the tracee and
// rewind: on one CPU that switch is a plain context switch, on two it is a cross-CPU
// wake-up, which costs far more in a VM. The masks are put back at detach; a rewind
// killed meanwhile leaves the target on that one CPU, which is why attaching pins only
// when asked.

void RecordSession::pin_to_one_cpu() {
  cpu_set_t own, leader;
  if (::sched_getaffinity(0, sizeof own, &own) != 0 ||
      ::sched_getaffinity(pid_, sizeof leader, &leader) != 0) {
    return;
  }
  int cpu = ::sched_getcpu();
  if (cpu < 0 || !CPU_ISSET(cpu, &leader) || !CPU_ISSET(cpu, &own)) {
    cpu = -1;
    for (int c = 0; c < CPU_SETSIZE && cpu < 0; ++c) {
      if (CPU_ISSET(c, &leader) && CPU_ISSET(c, &own)) {
        cpu = c;
      }
    }
  }
  if (cpu < 0) {
    warn_once("pin", "--pin-cpu: rewind and the target share no CPU; not pinned");
    return;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  for (const auto& [tid, t] : threads_) {
    cpu_set_t mask;
    if (::sched_getaffinity(tid, sizeof mask, &mask) != 0) {
      continue;
    }
    if (::sched_setaffinity(tid, sizeof one, &one) != 0) {
      warn_once("pin", fmt::format("--pin-cpu: cannot pin thread {}: {}; it runs where it "
                                   "did",
                                   tid, errno_text(errno)));
      continue;
    }
    original_affinity_[tid] = mask;
  }
  if (!original_affinity_.count(pid_)) {
    original_affinity_[pid_] = leader;
  }
  ::sched_setaffinity(0, sizeof one, &one);
  pinned_cpu_ = cpu;
  spdlog::debug("the target and rewind run on CPU {} while recording", cpu);
}

// A child process inherits its creator's CPU mask: while rewind pins the target, that is
// rewind's one CPU, which the child gets back from here (unless the program set a mask
// of its own since, which the child then keeps).
bool RecordSession::restore_child_affinity(pid_t child) {
  cpu_set_t mask;
  if (::sched_getaffinity(child, sizeof mask, &mask) != 0) {
    return true;  // gone
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(pinned_cpu_, &one);
  auto it = original_affinity_.find(pid_);
  if (!CPU_EQUAL(&mask, &one) || it == original_affinity_.end()) {
    return true;
  }
  return ::sched_setaffinity(child, sizeof it->second, &it->second) == 0;
}

void RecordSession::restore_affinity() {
  if (pinned_cpu_ < 0) {
    return;
  }
  const cpu_set_t& leader = original_affinity_[pid_];
  for (const auto& [tid, t] : threads_) {
    auto it = original_affinity_.find(tid);
    const cpu_set_t& mask = it != original_affinity_.end() ? it->second : leader;
    ::sched_setaffinity(tid, sizeof mask, &mask);
  }
  pinned_cpu_ = -1;
}

// ---- memory the kernel changes behind the program -----------------------------------
//
// Replay maps a file's pages as private anonymous memory filled from the recording, so
// whatever the kernel changes in a file mapping afterwards must be recorded too: the
// pages a write to the file changes (every mapping of a file sees them, shared or not
// yet copied-on-write), the pages madvise(MADV_DONTNEED) reloads from the file, and the
// part a mremap adds to a file mapping.

namespace {

constexpr uint64_t kMadvDontneedLocked = 24;

// The file range [lo, hi) a successful call wrote through `fd` (hi == UINT64_MAX: any
// part, for calls that change a file's size or contents wholesale), or nullopt. A write
// at the file position ends at the position after it, read from /proc only once the
// file is known to be mapped (most writes go to sockets, pipes and logs).
struct FileWrite {
  int fd;
  uint64_t lo;
  uint64_t hi;
  bool at_position = false;  // lo and hi still to find: the call wrote hi - lo bytes
};

std::optional<uint64_t> fd_position(pid_t pid, int fd) {
  auto text = read_file(fmt::format("/proc/{}/fdinfo/{}", pid, fd));
  if (!text || !text->starts_with("pos:")) {
    return std::nullopt;
  }
  return std::strtoull(text->c_str() + 4, nullptr, 10);
}

std::optional<FileWrite> file_write(const Event& e) {
  if (e.result <= 0 && !(e.result == 0 && (e.sysno == SYS_ftruncate || e.sysno == SYS_fallocate))) {
    return std::nullopt;
  }
  auto n = static_cast<uint64_t>(e.result);
  switch (e.sysno) {
    case SYS_pwrite64:
    case SYS_pwritev:
    case SYS_pwritev2:
      if (e.sysno == SYS_pwritev2 && static_cast<int64_t>(e.args[3]) == -1) {
        break;  // the file position, like writev
      }
      return FileWrite{static_cast<int>(e.args[0]), e.args[3], e.args[3] + n};
    case SYS_ftruncate:
    case SYS_fallocate:
    case SYS_sendfile:
      return FileWrite{static_cast<int>(e.args[0]), 0, UINT64_MAX};
    case SYS_copy_file_range:
    case SYS_splice:
      return FileWrite{static_cast<int>(e.args[2]), 0, UINT64_MAX};
    case SYS_write:
    case SYS_writev:
      break;
    default:
      return std::nullopt;
  }
  return FileWrite{static_cast<int>(e.args[0]), 0, n, /*at_position=*/true};
}

// Where a write at the file position went, now that it matters.
void find_position(pid_t pid, FileWrite& w) {
  uint64_t n = w.hi - w.lo;
  auto pos = fd_position(pid, w.fd);
  bool known = pos && *pos >= n;
  w.lo = known ? *pos - n : 0;
  w.hi = known ? *pos : UINT64_MAX;
  w.at_position = false;
}

// The possible CPUs ("0-3,8-11" in /sys), which size a per-CPU bpf map's values.
int possible_cpus() {
  auto text = read_file("/sys/devices/system/cpu/possible");
  if (!text) {
    return 0;
  }
  int count = 0;
  const char* p = text->c_str();
  while (*p >= '0' && *p <= '9') {
    char* end = nullptr;
    long lo = std::strtol(p, &end, 10);
    long hi = *end == '-' ? std::strtol(end + 1, &end, 10) : lo;
    count += static_cast<int>(hi - lo + 1);
    if (*end != ',') {
      break;
    }
    p = end + 1;
  }
  return count;
}

// A mapping's file as mapped_file_key() names it.
std::string file_key(const MapEntry& m) {
  return fmt::format("{} {}", m.dev, m.inode);
}

}  // namespace

// "dev inode" of the regular file open as `fd` in the target, as /proc/PID/maps shows it.
std::optional<std::string> RecordSession::mapped_file_key(int fd) const {
  struct stat st{};
  if (::stat(fmt::format("/proc/{}/fd/{}", pid_, fd).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  return fmt::format("{:02x}:{:02x} {}", major(st.st_dev), minor(st.st_dev), st.st_ino);
}

void RecordSession::note_mapped_file(int fd) {
  if (mapped_files_) {
    if (auto key = mapped_file_key(fd)) {
      mapped_files_->insert(*key);
    }
  }
}

// vfork(), and the clones that suspend the caller in the same way (posix_spawn's):
// the child shares the caller's memory until it execs or exits.
bool RecordSession::shares_stack_until_exec(const Event& e) const {
  constexpr uint64_t kVforkFlags = CLONE_VM | CLONE_VFORK;
  auto flags = clone_flags(e.sysno, e.args[0]);
  return flags && (*flags & kVforkFlags) == kVforkFlags && (*flags & CLONE_THREAD) == 0;
}

// The flags of a clone (in its first argument) or clone3 (first in the struct its first
// argument points to), and those that fork and vfork stand for; nullopt for other calls,
// or when they cannot be read.
std::optional<uint64_t> RecordSession::clone_flags(int64_t sysno, uint64_t arg0) const {
  uint64_t flags = 0;
  switch (sysno) {
    case SYS_clone:
      return arg0;
    case SYS_fork:
      return SIGCHLD;
    case SYS_vfork:
      return CLONE_VM | CLONE_VFORK | SIGCHLD;
    default:
      break;
  }
  if (sysno != SYS_clone3 || !mem_ || mem_->read_into(arg0, &flags, sizeof flags) != sizeof flags) {
    return std::nullopt;
  }
  return flags;
}

// The writable private mappings of files (the programs' and libraries' data, with the
// GOT) and the anonymous ones right after them (their bss), up to kVforkDataCapture.
std::vector<MemoryBytes> RecordSession::read_data_mappings() {
  std::vector<MemoryBytes> out;
  auto maps = read_maps(pid_);
  if (!maps || !mem_) {
    return out;
  }
  uint64_t total = 0;
  uint64_t file_end = 0;  // end of the last writable file mapping
  for (const auto& m : *maps) {
    bool data = m.writable() && !m.shared() && (m.is_file() || (m.path.empty() && m.start == file_end));
    file_end = m.writable() && m.is_file() ? m.end : 0;
    if (!data || total + m.size() > kVforkDataCapture) {
      continue;
    }
    std::string bytes;
    if (mem_->read(m.start, m.size(), bytes) && bytes.size() == m.size()) {
      total += m.size();
      out.push_back({m.start, std::move(bytes)});
    }
  }
  return out;
}

// A child process the target creates keeps its writable shared mappings and can write
// them at any time (see SharedMemoryWatch). They are copied as the call begins, before
// the child exists; what it writes shows up after the target's next syscalls.
void RecordSession::watch_shared_memory_at_entry(const Event& e) {
  auto flags = clone_flags(e.sysno, e.args[0]);
  if (!flags || (*flags & CLONE_THREAD) || !mem_) {
    return;
  }
  auto maps = read_maps(pid_);
  if (!maps) {
    return;
  }
  int skipped = shared_watch_.skipped();
  shared_watch_.add_shared(*maps, *mem_);
  if (shared_watch_.skipped() > skipped) {
    warn_once("shared-watch",
              fmt::format("the target shares more than {} MiB of writable shared memory with "
                          "a child process: what the child writes beyond that is not recorded",
                          SharedMemoryWatch::kMaxWatched >> 20));
  }
}

// A thread that exits holding robust mutexes: after its exit stop the kernel marks each
// one's lock word FUTEX_OWNER_DIED, if the word holds the thread's tid. Replay's thread
// has another tid, so there the kernel leaves the words alone: the recording keeps what
// the kernel wrote, as outputs of the first syscall to return after the kernel wrote it
// (before pthread_join's futex returns: the kernel clears the tid after the robust list).
void RecordSession::watch_robust_futexes(const Thread& t) {
  if (!mem_) {
    return;
  }
  for (uint64_t word : robust_futex_words(t.tid, *mem_)) {
    shared_watch_.watch_word(*mem_, word, sizeof(uint32_t), t.tid);
  }
}

void RecordSession::collect_shared_memory(Event& e) {
  if (shared_watch_.empty() || !mem_) {
    return;
  }
  bool remapped = e.sysno == SYS_munmap || e.sysno == SYS_mmap || e.sysno == SYS_mremap ||
                  e.sysno == SYS_shmdt || e.sysno == SYS_shmat;
  if (remapped && e.result >= 0) {
    if (auto maps = read_maps(pid_)) {
      shared_watch_.keep_mapped(*maps);
    }
  }
  shared_watch_.collect(*mem_, e.outputs);
}

void RecordSession::capture_kernel_changes(Event& e) {
  if (mem_ && e.sysno == SYS_madvise && e.result == -EINVAL &&
      (e.args[2] == MADV_DONTNEED || e.args[2] == MADV_REMOVE)) {
    // Refused at a locked page, after the pages before it were dropped already: replay
    // (which does not lock pages) gets them from here.
    std::string bytes;
    if (mem_->read(e.args[0], std::min<uint64_t>(e.args[1], kRefusedMadviseCapture), bytes)) {
      e.outputs.push_back({e.args[0], std::move(bytes)});
    }
    return;
  }
  if (!mem_ || e.result < 0) {
    return;
  }
  std::vector<MemRange> ranges;  // to read after the call, in the process's memory
  std::optional<std::vector<MapEntry>> maps_now;  // read at most once, when needed
  auto maps = [&]() -> const std::vector<MapEntry>& {
    if (!maps_now) {
      auto m = read_maps(pid_);
      maps_now = m ? std::move(*m) : std::vector<MapEntry>{};
    }
    return *maps_now;
  };
  if (shares_stack_until_exec(e)) {
    // A vfork child runs in the caller's memory, on its stack, until it execs or exits,
    // which is before the call returns here. Replay runs no child: it gets what the child
    // left on the stack (its frames below the stack pointer, the locals it set above),
    // from a window around the stack pointer to the end of the stack, and the pages of
    // the data mappings that changed during the call (lazy binding fills in the GOT
    // entries of the functions only the child called, execve's say).
    auto regs = get_regs(e.tid);
    for (const auto& m : maps()) {
      if (regs && m.start <= regs->rsp && regs->rsp < m.end) {
        uint64_t below = std::min<uint64_t>(regs->rsp - m.start, kVforkStackBelow);
        uint64_t lo = regs->rsp - below;
        ranges.push_back({lo, std::min(m.end, lo + kVforkStackCapture) - lo});
      }
    }
    // posix_spawn's child runs on a stack of its own, which the caller unmaps later.
    uint64_t stack_lo = 0, stack_hi = 0;
    if (e.sysno == SYS_clone && e.args[1] != 0) {
      stack_hi = e.args[1];
      stack_lo = stack_hi - std::min<uint64_t>(stack_hi, kVforkStackBelow);
    } else if (e.sysno == SYS_clone3) {
      uint64_t stack[2] = {};  // clone_args.stack, clone_args.stack_size
      if (mem_->read_into(e.args[0] + 40, stack, sizeof stack) == sizeof stack) {
        stack_lo = stack[0];
        stack_hi = stack[0] + std::min(stack[1], kVforkStackCapture);
      }
    }
    for (const auto& m : maps()) {
      if (stack_lo < stack_hi && m.start < stack_hi && stack_lo < m.end) {
        uint64_t lo = std::max(stack_lo, m.start);
        ranges.push_back({lo, std::min(stack_hi, m.end) - lo});
      }
    }
    auto it = threads_.find(static_cast<pid_t>(e.tid));
    if (it != threads_.end()) {
      for (const auto& before : it->second->before_vfork) {
        std::string now;
        if (!mem_->read(before.addr, before.bytes.size(), now) ||
            now.size() != before.bytes.size()) {
          continue;
        }
        for (size_t at = 0; at < now.size(); at += kPageSize) {
          size_t len = std::min<size_t>(kPageSize, now.size() - at);
          if (now.compare(at, len, before.bytes, at, len) != 0) {
            e.outputs.push_back({before.addr + at, now.substr(at, len)});
          }
        }
      }
      it->second->before_vfork.clear();
    }
  } else if (e.sysno == SYS_madvise) {
    uint64_t advice = e.args[2];
    if (advice != MADV_DONTNEED && advice != MADV_REMOVE && advice != kMadvDontneedLocked) {
      return;
    }
    uint64_t lo = e.args[0], hi = e.args[0] + e.args[1];
    for (const auto& m : maps()) {
      if (m.inode != 0 && m.start < hi && lo < m.end) {
        ranges.push_back({std::max(lo, m.start), std::min(hi, m.end) - std::max(lo, m.start)});
      }
    }
  } else if (e.sysno == SYS_mremap) {
    uint64_t at = static_cast<uint64_t>(e.result), old_len = e.args[1], new_len = e.args[2];
    if (new_len <= old_len) {
      return;
    }
    for (const auto& m : maps()) {
      if (m.inode != 0 && m.start < at + new_len && at + old_len < m.end) {
        uint64_t lo = std::max(at + old_len, m.start);
        ranges.push_back({lo, std::min(at + new_len, m.end) - lo});
      }
    }
  } else if (e.sysno == SYS_bpf) {
    bpf_outputs(e, ranges);
  } else if (e.sysno == SYS_process_vm_writev && is_own_process(static_cast<pid_t>(e.args[0]))) {
    // Writing into itself: the remote iovecs are the program's own memory, filled in
    // order up to the bytes written.
    uint64_t left = static_cast<uint64_t>(e.result);
    for (uint64_t i = 0; i < std::min<uint64_t>(e.args[4], 1024) && left > 0; ++i) {
      uint64_t iov[2] = {};
      if (mem_->read_into(e.args[3] + i * sizeof iov, iov, sizeof iov) != sizeof iov) {
        break;
      }
      uint64_t n = std::min(iov[1], left);
      if (n > 0) {
        ranges.push_back({iov[0], n});
      }
      left -= n;
    }
  } else if (auto w = file_write(e)) {
    auto file = mapped_file_key(w->fd);
    if (!file) {
      return;
    }
    if (!mapped_files_) {
      mapped_files_.emplace();
      for (const auto& m : maps()) {
        mapped_files_->insert(file_key(m));
      }
    }
    if (!mapped_files_->contains(*file)) {
      // A log file, say: no mapping sees this write. Unless it is /proc/self/mem (on
      // procfs, a device without a major number), whose offsets are the process's
      // addresses: a JIT writing code past the pages' protection, say.
      if (file->starts_with("00:") && writes_own_memory(w->fd)) {
        if (w->at_position) {
          find_position(pid_, *w);
        }
        if (w->hi != UINT64_MAX && w->hi > w->lo) {
          ranges.push_back({w->lo, w->hi - w->lo});
        }
        capture_ranges(e, ranges);
      }
      return;
    }
    if (w->at_position) {
      find_position(pid_, *w);
    }
    for (const auto& m : maps()) {
      if (file_key(m) != *file) {
        continue;
      }
      // The mapping holds file bytes [offset, offset + size).
      uint64_t lo = std::max(w->lo, m.offset);
      uint64_t hi = std::min(w->hi, m.offset + m.size());
      if (lo < hi) {
        ranges.push_back({m.start + (lo - m.offset), hi - lo});
      }
    }
  }
  capture_ranges(e, ranges);
}

void RecordSession::capture_ranges(Event& e, const std::vector<MemRange>& ranges) {
  for (const auto& r : ranges) {
    std::string bytes;
    if (r.len <= kMaxMappedCapture && mem_->read(r.addr, r.len, bytes) && !bytes.empty()) {
      e.outputs.push_back({r.addr, std::move(bytes)});
    }
  }
}

// What bpf() writes into the program beyond its result: sizes that only the map knows
// (its key and value sizes, from /proc/PID/fdinfo), or that the kernel stores in the
// attributes next to the pointer.
void RecordSession::bpf_outputs(const Event& e, std::vector<MemRange>& ranges) {
  uint64_t attr = e.args[1];
  auto u32_at = [&](uint64_t off) -> uint64_t {
    uint32_t v = 0;
    return mem_->read_into(attr + off, &v, sizeof v) == sizeof v ? v : 0;
  };
  auto u64_at = [&](uint64_t off) -> uint64_t {
    uint64_t v = 0;
    return mem_->read_into(attr + off, &v, sizeof v) == sizeof v ? v : 0;
  };
  // A map's "key_size" or "value_size" (per-CPU maps hold one 8-byte-aligned value per
  // possible CPU).
  auto map_size = [&](const char* field) -> uint64_t {
    auto info = read_file(fmt::format("/proc/{}/fdinfo/{}", pid_, u32_at(0)));
    if (!info) {
      return 0;
    }
    auto value_of = [&](std::string_view key) -> uint64_t {
      auto at = info->find(fmt::format("{}:", key));
      return at == std::string::npos ? 0 : std::strtoull(info->c_str() + at + key.size() + 1,
                                                          nullptr, 10);
    };
    uint64_t size = value_of(field);
    uint64_t type = value_of("map_type");
    bool per_cpu = type == 5 || type == 6 || type == 10 || type == 21;  // PERCPU_*
    if (per_cpu && std::string_view(field) == "value_size") {
      size = (size + 7) / 8 * 8 * static_cast<uint64_t>(std::max(1, possible_cpus()));
    }
    return size;
  };
  switch (e.args[0]) {
    case 1:   // BPF_MAP_LOOKUP_ELEM: the value
    case 21:  // BPF_MAP_LOOKUP_AND_DELETE_ELEM
      ranges.push_back({u64_at(16), map_size("value_size")});
      break;
    case 5:  // BPF_PROG_LOAD: the verifier's log, when one was asked for
      if (u32_at(24) != 0) {
        ranges.push_back({u64_at(32), u32_at(28)});
      }
      break;
    case 4:  // BPF_MAP_GET_NEXT_KEY: the next key
      ranges.push_back({u64_at(16), map_size("key_size")});
      break;
    case 15:  // BPF_OBJ_GET_INFO_BY_FD: info_len (set to what was written), then info
      ranges.push_back({attr + 4, 4});
      ranges.push_back({u64_at(8), u32_at(4)});
      break;
    case 16:  // BPF_PROG_QUERY: attach_flags, prog_cnt, and prog_cnt ids
      ranges.push_back({attr + 12, 4});
      ranges.push_back({attr + 24, 4});
      if (u64_at(16) != 0) {
        ranges.push_back({u64_at(16), std::min<uint64_t>(u32_at(24), 1u << 16) * 4});
      }
      break;
    default:
      break;
  }
  std::erase_if(ranges, [](const MemRange& r) { return r.addr == 0 || r.len == 0; });
}

// Whether `pid` (as the target names it) is the target process or one of its threads.
bool RecordSession::is_own_process(pid_t pid) const {
  return pid == pid_ || threads_.contains(pid);
}

// Whether the target's `fd` is its own memory file (/proc/PID/mem, or a thread's).
bool RecordSession::writes_own_memory(int fd) const {
  auto path = read_link(pid_, fmt::format("fd/{}", fd));
  if (!path || !path->starts_with("/proc/") || !path->ends_with("/mem")) {
    return false;
  }
  if (*path == fmt::format("/proc/{}/mem", pid_)) {
    return true;
  }
  for (const auto& [tid, t] : threads_) {
    if (*path == fmt::format("/proc/{}/task/{}/mem", pid_, tid) ||
        *path == fmt::format("/proc/{}/mem", tid)) {
      return true;
    }
  }
  return false;
}

// ---- replay support ---------------------------------------------------------------

nlohmann::json RecordSession::read_signal_actions(pid_t tid) {
  nlohmann::json actions = nlohmann::json::array();
  // Only handled and ignored signals have an action worth restoring, and SIGCHLD, whose
  // default action has flags (SA_NOCLDSTOP, SA_NOCLDWAIT): asking for those alone keeps
  // the attach pause short.
  auto status = read_status(pid_);
  uint64_t wanted = status ? status->sig_caught | status->sig_ignored : ~uint64_t{0};
  wanted |= signal_bit(SIGCHLD);
  auto read_all = [&](uint64_t scratch) {
    for (int sig = 1; sig <= 64; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP || (wanted & signal_bit(sig)) == 0) {
        continue;
      }
      int deferred = 0;
      auto rc = inject_syscall(tid, injection_site_, SYS_rt_sigaction,
                               {uint64_t(sig), 0, scratch, 8}, &deferred);
      keep_deferred(*threads_[tid], deferred);
      if (!rc || *rc != 0) {
        continue;
      }
      uint64_t act[4] = {};
      if (mem_->read_into(scratch, act, sizeof act) != sizeof act) {
        continue;
      }
      if (act[0] == 0 && act[1] == 0 && act[3] == 0) {
        continue;  // default action, nothing to restore
      }
      actions.push_back({{"signal", sig},
                         {"handler", act[0]},
                         {"flags", act[1]},
                         {"restorer", act[2]},
                         {"mask", act[3]}});
    }
  };
  if (auto s = with_stack_scratch(tid, 4 * sizeof(uint64_t), read_all); !s) {
    warn_once("sigaction", fmt::format("the signal handlers of pid {} could not be read ({}): "
                                       "a signal the target handles will not replay",
                                       pid_, s.error().message));
  }
  return actions;
}

std::optional<stack_t> RecordSession::read_altstack(Thread& t) {
  std::optional<stack_t> altstack;
  auto read = [&](uint64_t scratch) {
    int deferred = 0;
    auto rc = inject_syscall(t.tid, injection_site_, SYS_sigaltstack, {0, scratch}, &deferred);
    keep_deferred(t, deferred);
    stack_t ss{};
    if (rc && *rc == 0 && mem_->read_into(scratch, &ss, sizeof ss) == sizeof ss) {
      altstack = ss;
    }
  };
  auto s = with_stack_scratch(t.tid, sizeof(stack_t), read);
  if (!s || !altstack) {
    warn_once(fmt::format("altstack-{}", t.tid),
              fmt::format("the alternate signal stack of thread {} could not be read{}: a "
                          "signal it handles on that stack will not replay",
                          t.tid, s ? "" : fmt::format(" ({})", s.error().message)));
  }
  return altstack;
}

pid_t RecordSession::live_thread() const {
  for (const auto& [tid, t] : threads_) {
    if (!t->exiting) {
      return tid;
    }
  }
  return threads_.begin()->first;
}

void RecordSession::install_orphan_guard(std::string_view vdso, uint64_t vdso_start) {
  pid_t first = live_thread();
  int deferred = 0;
  uint64_t place = OrphanGuard::vdso_room(vdso, vdso_start);
  uint64_t syscall_insn = find_syscall_instruction(vdso, vdso_start);
  auto guard = place != 0 || syscall_insn != 0
                   ? OrphanGuard::install(first, place, syscall_insn, &deferred)
                   : Result<OrphanGuard>(fail("the vDSO has neither room for it nor a "
                                              "syscall instruction to map it"));
  keep_deferred(*threads_[first], deferred);
  if (!guard) {
    // Trapping rdtsc without the guard would kill the target if rewind died.
    warn_once("tsc", fmt::format("rdtsc is not trapped, so its results are not recorded and "
                                 "replay may diverge: {}",
                                 guard.error().message));
    return;
  }
  orphan_guard_ = *guard;
  injection_site_ = orphan_guard_->injection_site();
}

// A thread stopped inside the vDSO would go on reading the kernel's clock data (the vvar
// page, which replay does not have), and a thread in the middle of a function about to be
// patched would run the patch's bytes from their middle: step them out of the vDSO.
void RecordSession::step_out_of_vdso(const MapEntry& vdso) {
  if (orphan_guard_) {
    (void)orphan_guard_->set_stepping(pid_, true);
  }
  for (auto& [tid, t] : threads_) {
    auto regs = get_regs(tid);
    auto inside = [&](const user_regs_struct& r) {
      return r.rip >= vdso.start && r.rip < vdso.end;
    };
    if (!regs || !inside(*regs) || restart_pending(*regs)) {
      continue;
    }
    // A step trap is a fault, which the kernel forces through: in a thread that blocks
    // SIGTRAP it would unblock it and reset the process's SIGTRAP action to the default.
    // SIGTRAP is let through while rewind steps.
    constexpr uint64_t kTrapBit = signal_bit(SIGTRAP);
    uint64_t mask = 0;
    bool trap_blocked = ::ptrace(PTRACE_GETSIGMASK, tid, sizeof mask, &mask) == 0 &&
                        (mask & kTrapBit) != 0;
    if (trap_blocked) {
      uint64_t stepping_mask = mask & ~kTrapBit;
      ::ptrace(PTRACE_SETSIGMASK, tid, sizeof stepping_mask, &stepping_mask);
    }
    for (int step = 0; step < 100000 && regs && inside(*regs); ++step) {
      if (::ptrace(PTRACE_SINGLESTEP, tid, nullptr, nullptr) != 0) {
        break;
      }
      if (!t->trap_flag_left) {
        t->trap_flag_left = true;
        ++threads_with_trap_flag_;
      }
      auto st = wait_thread(tid, std::chrono::seconds(2));
      if (!st || !st->stopped()) {
        break;
      }
      int sig = st->stop_signal();
      if (st->ptrace_event() == 0 && sig != SIGTRAP) {
        t->pending_signal = sig;  // delivered when the thread next runs
      }
      regs = get_regs(tid);
    }
    if (trap_blocked) {
      ::ptrace(PTRACE_SETSIGMASK, tid, sizeof mask, &mask);
    }
    if (regs && inside(*regs)) {
      warn_once("vdso-busy", fmt::format("thread {} was inside the vDSO when rewind attached "
                                         "and could not be moved out; its clock read may not "
                                         "replay",
                                         tid));
    }
  }
  clear_stepping_if_done();
}

// A thread's first stop after a resume that was not a step: its trap flag is off again.
void RecordSession::note_resumed_after_step(Thread& t) {
  if (t.trap_flag_left) {
    t.trap_flag_left = false;
    --threads_with_trap_flag_;
    clear_stepping_if_done();
  }
}

void RecordSession::clear_stepping_if_done() {
  if (orphan_guard_ && threads_with_trap_flag_ == 0) {
    (void)orphan_guard_->set_stepping(pid_, false);
  }
}

Status RecordSession::prepare_for_replay() {
  if (!mem_) {
    mem_ = std::make_unique<TargetMemory>(pid_);
  }
  auto maps = read_maps(pid_);
  if (!maps) {
    return std::unexpected(maps.error());
  }
  const MapEntry* vdso = nullptr;
  for (const auto& m : *maps) {
    if (m.path == "[vdso]") {
      vdso = &m;
    }
  }
  std::string image;
  if (vdso == nullptr || !mem_->read(vdso->start, vdso->size(), image)) {
    warn_once("vdso", "the target has no readable vDSO: clock reads are not recorded and "
                      "replay may diverge");
    return ok();
  }
  // Before any syscall runs in a thread: the first injection turns a pending
  // restart into a restart_syscall, and the interrupted call would be forgotten; and
  // it would put back the signal mask that a masked wait replaced.
  deliver_signals_ending_masked_waits();
  note_interrupted_calls();
  // The guard goes in first: should rewind die, it makes the target survive every
  // later step (and the recording).
  install_orphan_guard(image, vdso->start);
  step_out_of_vdso(*vdso);
  auto patches = vdso_patches(image, vdso->start);
  if (!patches || !apply_patches(pid_, *patches)) {
    warn_once("vdso", fmt::format("the vDSO time functions could not be patched ({}): clock "
                                  "reads are not recorded and replay may diverge",
                                  patches ? "write failed" : patches.error().message));
    remove_orphan_guard();
    return ok();
  }
  vdso_patches_ = std::move(*patches);
  if (!orphan_guard_) {
    injection_site_ = {patch_syscall_site(vdso_patches_), 0};
  }
  bool all_trapped = orphan_guard_.has_value();
  // Only before rewind traps rdtsc: after an exec, the trapping that survived it is
  // rewind's, and each thread keeps the program's setting it had.
  if (all_trapped && !tsc_trapped_) {
    if (auto s = read_program_tsc_settings(); !s) {
      warn_once("program-tsc", fmt::format("whether the program traps rdtsc itself could "
                                           "not be read: {}",
                                           s.error().message));
    }
  }
  for (auto& [tid, t] : threads_) {
    if (t->exiting) {
      continue;  // past its exit stop (it was leaving as rewind attached): no code to run
    }
    int deferred = 0;
    if (orphan_guard_) {
      auto rc = inject_syscall(tid, injection_site_, SYS_prctl, {PR_SET_TSC, PR_TSC_SIGSEGV},
                               &deferred);
      all_trapped = all_trapped && rc && *rc == 0;
    }
    __ptrace_rseq_configuration cfg{};
    if (::ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid,
                 reinterpret_cast<void*>(sizeof cfg), &cfg) > 0 &&
        cfg.rseq_abi_pointer != 0) {
      auto un = inject_syscall(tid, injection_site_, SYS_rseq,
                               {cfg.rseq_abi_pointer, cfg.rseq_abi_size, kRseqUnregister,
                                cfg.signature},
                               &deferred);
      if (un && *un == 0) {
        rseq_in_use_ = true;
        t->rseq_addr = cfg.rseq_abi_pointer;
        t->rseq_len = cfg.rseq_abi_size;
        t->rseq_sig = cfg.signature;
      }
    }
    // Threads that run Go, or any handler marked SA_ONSTACK, take signals on it.
    t->altstack = read_altstack(*t);
    keep_deferred(*t, deferred);
  }
  tsc_trapped_ = all_trapped;
  use_trapped_clock_stubs(image, vdso->start);
  if (!all_trapped && orphan_guard_) {
    // All or none: a detach untraps only a recording that trapped every thread.
    for (auto& [tid, t] : threads_) {
      if (!t->exiting) {
        (void)inject_syscall(tid, injection_site_, SYS_prctl, {PR_SET_TSC, PR_TSC_ENABLE});
      }
    }
    warn_once("tsc", "rdtsc could not be trapped in every thread: its results are not "
                     "recorded and replay may diverge");
  }
  signal_actions_ = read_signal_actions(live_thread());
  if (tsc_trapped_) {
    trap_cpuid();
  }
  if (!cpuid_trapped_) {
    warn_once("cpuid", "CPUID results are not recorded (this machine cannot trap cpuid, or "
                       "the program traps it itself): replay on a machine with other CPU "
                       "features can diverge");
  }
  return ok();
}

// cpuid faulting (ARCH_SET_CPUID) in every thread, as rdtsc is trapped: all or none, and
// none when a thread has it on already (the program's own, which rewind leaves alone).
// The orphan guard turns it off in a thread whose cpuid faults after rewind is gone.
void RecordSession::trap_cpuid() {
  cpuid_trapped_ = false;
  if (!orphan_guard_) {
    return;
  }
  for (auto& [tid, t] : threads_) {
    if (t->exiting) {
      continue;
    }
    int deferred = 0;
    auto on = inject_syscall(tid, injection_site_, SYS_arch_prctl, {ARCH_GET_CPUID, 0},
                             &deferred);
    keep_deferred(*t, deferred);
    if (!on || *on != 1) {
      return;  // ENODEV: no cpuid faulting here; 0: the program has it on
    }
  }
  std::vector<pid_t> trapped;
  for (auto& [tid, t] : threads_) {
    if (t->exiting) {
      continue;
    }
    int deferred = 0;
    auto rc = inject_syscall(tid, injection_site_, SYS_arch_prctl, {ARCH_SET_CPUID, 0},
                             &deferred);
    keep_deferred(*t, deferred);
    if (!rc || *rc != 0) {
      for (pid_t done : trapped) {
        (void)inject_syscall(done, injection_site_, SYS_arch_prctl, {ARCH_SET_CPUID, 1});
      }
      return;
    }
    trapped.push_back(tid);
  }
  cpuid_trapped_ = true;
}

void RecordSession::remove_orphan_guard() {
  if (!orphan_guard_) {
    return;
  }
  for (auto& [tid, t] : threads_) {
    if (!t->stopped || t->at_entry || t->group_stop) {
      continue;
    }
    int deferred = 0;
    auto s = orphan_guard_->remove(tid, &deferred);
    keep_deferred(*t, deferred);
    if (!s) {
      spdlog::warn("rewind's SIGSEGV guard stays in pid {}: {}", pid_, s.error().message);
    }
    orphan_guard_.reset();
    injection_site_ = {patch_syscall_site(vdso_patches_), 0};
    return;
  }
  spdlog::warn("rewind's SIGSEGV guard stays in pid {}: no thread could run the syscalls "
               "that remove it",
               pid_);
}

void RecordSession::undo_replay_support() {
  turn_off_rdtsc_stubs(pid_, true);
  if (clock_stubs_) {
    // A thread in a clock stub could leave it for the vDSO's plain stub, which is about
    // to become the original code again: to the function's entry or its caller first.
    for (auto& [tid, t] : threads_) {
      if (auto regs = t->stopped ? get_regs(tid) : Result<user_regs_struct>(fail("running"))) {
        settle_in_stub(tid, *regs);
      }
    }
    turn_off_clock_stubs(pid_, true);
  }
  if (vdso_patches_.empty()) {
    return;
  }
  bool left = false;
  for (auto& [tid, t] : threads_) {
    if (t->stopped && t->at_entry && !t->preempt_skip) {
      // Nothing can be run in a thread at a syscall-entry stop: skip the syscall to
      // reach its exit stop, with the thread set up to make the call again after detach.
      if (auto regs = get_regs(tid)) {
        t->entry_regs = *regs;
        if (set_regs(tid, rerun_syscall(*regs)) &&
            ::ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) == 0) {
          auto st = wait_thread(tid, std::chrono::seconds(2));
          if (st && st->is_syscall_stop()) {
            t->at_entry = false;
            t->preempt_skip = true;  // detach_all puts the call back
          }
        }
      }
    }
    if (!t->stopped || t->at_entry || t->group_stop) {
      left = left || tsc_trapped_;
      continue;
    }
    int deferred = 0;
    if (cpuid_trapped_) {
      (void)inject_syscall(tid, injection_site_, SYS_arch_prctl, {ARCH_SET_CPUID, 1},
                           &deferred);
    }
    if (tsc_trapped_ && !t->program_traps_tsc) {  // else it stays as the program set it
      auto rc = inject_syscall(tid, injection_site_, SYS_prctl, {PR_SET_TSC, PR_TSC_ENABLE},
                               &deferred);
      if (!rc) {
        // The thread did not run it (the process is being killed, most likely): do not
        // wait for the others too.
        spdlog::debug("cannot re-enable rdtsc in thread {}: {}", tid, rc.error().message);
        left = true;
        break;
      }
      left = left || *rc != 0;
    }
    if (t->rseq_addr != 0) {
      auto rc = inject_syscall(tid, injection_site_, SYS_rseq,
                               {t->rseq_addr, t->rseq_len, 0, t->rseq_sig}, &deferred);
      (void)rc;
    }
    keep_deferred(*t, deferred);
  }
  if (left) {
    // The guard stays, so that those threads untrap rdtsc themselves at their next one.
    spdlog::warn("rdtsc stays trapped in some threads of pid {} (they were in the middle of a "
                 "syscall when rewind detached); rewind's SIGSEGV guard stays installed to "
                 "untrap it at their next rdtsc",
                 pid_);
  } else {
    remove_orphan_guard();
  }
  // A thread stopped inside a patched function would resume in the middle of the
  // original instructions: step it out (it sits on the stub's `ret`), or keep the patch.
  for (auto& [tid, t] : threads_) {
    if (t->preempt_skip) {
      // Its call, skipped, is made again after detach (detach_all). Made from the plain
      // stub's `syscall` it would run the middle of the original function, which read a
      // stale time or died of SIGILL: the original function makes it from its entry,
      // where the caller's registers are the same.
      for (const auto& p : vdso_patches_) {
        if (p.within(t->entry_regs.rip - 2)) {
          t->entry_regs.rip = p.addr + 2;  // rerun_syscall() steps back 2
        }
      }
      continue;
    }
    // (At a syscall-entry stop the call is still to come: it stays where it is.)
    auto regs = t->stopped ? get_regs(tid) : Result<user_regs_struct>(fail("running"));
    if (regs && !t->at_entry && leaves_patch(*regs) && !set_regs(tid, *regs)) {
      left = true;
    }
    left = left || (regs && std::ranges::any_of(vdso_patches_, [&](const CodePatch& p) {
                      return p.within(regs->rip);
                    }));
  }
  if (left) {
    // Keep the clock functions as syscalls: correct everywhere, and rdtsc-free where
    // rdtsc still traps.
    vdso_patches_.clear();
    return;
  }
  if (auto s = revert_patches(pid_, vdso_patches_); !s) {
    spdlog::warn("the vDSO of pid {} keeps rewind's patches ({}): its clock reads stay "
                 "correct but slower",
                 pid_, s.error().message);
  }
  vdso_patches_.clear();
}

}  // namespace rwd
