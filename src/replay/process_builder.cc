#include "replay/process_builder.h"

#include <dlfcn.h>
#include <elf.h>
#include <signal.h>
#include <sys/mman.h>
#include <asm/prctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/target_memory.h"
#include "tracee/vdso_patch.h"

namespace rwd {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kUserTop = 0x7ffffffff000ull;
constexpr uint64_t kStackReserve = 8ull << 20;  // room for the stack to grow in replay

int prot_of(const std::string& perms) {
  int p = PROT_NONE;
  if (perms.size() > 0 && perms[0] == 'r') p |= PROT_READ;
  if (perms.size() > 1 && perms[1] == 'w') p |= PROT_WRITE;
  if (perms.size() > 2 && perms[2] == 'x') p |= PROT_EXEC;
  return p;
}

// A `syscall` instruction in rewind's own libc, at the same address in the fork.
uint64_t own_syscall_instruction() {
  auto* fn = static_cast<const uint8_t*>(dlsym(RTLD_DEFAULT, "syscall"));
  for (int i = 0; fn != nullptr && i < 256; ++i) {
    if (fn[i] == 0x0f && fn[i + 1] == 0x05) {
      return reinterpret_cast<uint64_t>(fn + i);
    }
  }
  return 0;
}

bool overlaps(uint64_t a, uint64_t b, uint64_t start, uint64_t end) {
  return a < end && start < b;
}

class Builder {
 public:
  Builder(const RecordingReader& reader, const ReplayImage& image)
      : reader_(reader), image_(image) {}

  Result<BuiltProcess> build();
  pid_t pid() const { return out_.pid; }

 private:
  Result<int64_t> sys(pid_t tid, int64_t nr, std::array<uint64_t, 6> args) {
    auto rc = inject_syscall(tid, site_, nr, args);
    if (!rc) {
      return std::unexpected(rc.error());
    }
    return *rc;
  }
  Status must(pid_t tid, const char* what, int64_t nr, std::array<uint64_t, 6> args) {
    auto rc = sys(tid, nr, args);
    if (!rc) {
      return fail("rebuilding the process: {}: {}", what, rc.error().message);
    }
    if (*rc < 0 && *rc > -4096) {
      return fail("rebuilding the process: {} failed: {}", what, errno_text(static_cast<int>(-*rc)));
    }
    return ok();
  }
  Status map_region(const ReplayRegion& r, uint64_t start);
  Result<const std::string*> bundled_file(const std::string& path);
  Status fill_saved_memory();
  Status restore_altstack(pid_t t, const ReplayThreadState& ts, uint64_t buf);

  const RecordingReader& reader_;
  const ReplayImage& image_;
  BuiltProcess out_;
  pid_t main_ = 0;
  uint64_t site_ = 0;
  std::map<std::string, std::string> files_;
};

Result<const std::string*> Builder::bundled_file(const std::string& path) {
  if (auto it = files_.find(path); it != files_.end()) {
    return &it->second;
  }
  std::string clean = path;
  if (clean.ends_with(" (deleted)")) {
    clean.resize(clean.size() - 10);
  }
  const BlobInfo* blob = reader_.find_blob("file", "path", path);
  if (blob == nullptr) {
    blob = reader_.find_blob("file", "path", clean);
  }
  if (blob == nullptr || !blob->complete) {
    return fail("the recording does not hold {}", path);
  }
  auto bytes = reader_.read_blob(*blob);
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  return &(files_[path] = std::move(*bytes));
}

Status Builder::map_region(const ReplayRegion& r, uint64_t start) {
  uint64_t len = r.end - start;
  if (auto s = must(main_, "mapping memory", SYS_mmap,
                    {start, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                     static_cast<uint64_t>(-1), 0});
      !s) {
    return fail("{} (region {:#x}-{:#x} {})", s.error().message, r.start, r.end, r.path);
  }
  if (r.path == "[vdso]") {
    auto image = bundled_file("[vdso]");
    if (!image) {
      return std::unexpected(image.error());
    }
    std::string code = **image;
    code.resize(std::min<uint64_t>(code.size(), r.end - r.start));
    if (image_.vdso_patched) {
      auto stub = image_.vdso_trapped_stub ? ClockStub::kTrapped : ClockStub::kSyscall;
      if (auto patches = vdso_patches(code, r.start, stub)) {
        apply_patches_to_image(code, r.start, *patches);
      }
    }
    if (auto s = write_memory(out_.pid, r.start, code); !s) {
      return std::unexpected(s.error());
    }
  } else if (!r.saved && !r.path.empty() && r.path[0] == '/') {
    // The file first; saved pages (written ones) are laid over it afterwards.
    auto file = bundled_file(r.path);
    if (!file) {
      out_.warnings.push_back(fmt::format("{}: its region {:#x}-{:#x} starts as zeros",
                                          file.error().message, r.start, r.end));
    } else if (r.offset < (*file)->size()) {
      std::string_view bytes(**file);
      bytes = bytes.substr(r.offset, std::min<uint64_t>(r.end - r.start, bytes.size() - r.offset));
      if (auto s = write_memory(out_.pid, r.start, bytes); !s) {
        return std::unexpected(s.error());
      }
    }
  }
  return ok();
}

Status Builder::fill_saved_memory() {
  for (const auto& blob : reader_.blobs()) {
    if (blob.kind != "memory" || blob.meta.value("snapshot", std::string()) != image_.snapshot) {
      continue;
    }
    if (!blob.complete) {
      return fail("a saved memory region of snapshot {} is incomplete", image_.snapshot);
    }
    auto bytes = reader_.read_blob(blob);
    if (!bytes) {
      return std::unexpected(bytes.error());
    }
    uint64_t at = blob.meta.value("start", uint64_t{0});
    if (auto s = write_memory(out_.pid, at, *bytes); !s) {
      return std::unexpected(s.error());
    }
  }
  return ok();
}

// The kernel keeps the alternate signal stack per thread, outside the memory the
// snapshot holds; every Go thread takes its signals there. A thread that had none is
// left alone: neither has the fork's (rewind uses none), and an explicit SS_DISABLE
// would show in the uc_stack of its signal frames, unlike a stack never set.
Status Builder::restore_altstack(pid_t t, const ReplayThreadState& ts, uint64_t buf) {
  if (!ts.altstack || (ts.altstack->ss_flags & SS_DISABLE)) {
    return ok();
  }
  stack_t ss = altstack_to_set(*ts.altstack);
  std::string_view bytes(reinterpret_cast<const char*>(&ss), sizeof ss);
  if (auto s = write_memory(out_.pid, buf, bytes); !s) {
    return std::unexpected(s.error());
  }
  auto what = fmt::format("restoring the alternate signal stack of thread {}", ts.tid);
  return must(t, what.c_str(), SYS_sigaltstack, {buf, 0});
}

Result<BuiltProcess> Builder::build() {
  uint64_t own_site = own_syscall_instruction();
  if (own_site == 0) {
    return fail("cannot find a syscall instruction in rewind's libc");
  }
  pid_t child = ::fork();
  if (child < 0) {
    return fail_errno(errno, "cannot fork the replay process");
  }
  if (child == 0) {
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    for (int sig = 1; sig < 65; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) {
        ::signal(sig, SIG_DFL);
      }
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::syscall(SYS_close_range, 3, ~0u, 0);
    ::raise(SIGSTOP);
    ::_exit(127);
  }
  out_.pid = main_ = child;
  auto st = wait_thread(child);
  if (!st || !st->stopped()) {
    return fail("the replay process did not start");
  }
  ::ptrace(PTRACE_SETOPTIONS, child, nullptr,
           reinterpret_cast<void*>(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD |
                                   PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT));
  site_ = own_site;
  // rewind's libc registered restartable sequences in this thread; the kernel would
  // fault the process writing to them once rewind's memory is gone.
  __ptrace_rseq_configuration rseq{};
  if (::ptrace(PTRACE_GET_RSEQ_CONFIGURATION, child, reinterpret_cast<void*>(sizeof rseq), &rseq) > 0 &&
      rseq.rseq_abi_pointer != 0) {
    if (auto s = must(main_, "unregistering rseq", SYS_rseq,
                      {rseq.rseq_abi_pointer, rseq.rseq_abi_size, 1, rseq.signature});
        !s) {
      return std::unexpected(s.error());
    }
  }

  // A scratch page clear of both the recorded layout and rewind's own.
  auto own = read_maps(::getpid());
  if (!own) {
    return std::unexpected(own.error());
  }
  uint64_t scratch = 0;
  for (uint64_t cand = 0x100000000ull; cand < 0x7f0000000000ull; cand += 0x100000000ull) {
    bool clash = false;
    for (const auto& r : image_.regions) {
      clash = clash || overlaps(cand, cand + kPage, r.start - kStackReserve, r.end);
    }
    for (const auto& m : *own) {
      clash = clash || overlaps(cand, cand + kPage, m.start, m.end);
    }
    if (!clash) {
      scratch = cand;
      break;
    }
  }
  if (auto s = must(main_, "a scratch page", SYS_mmap,
                    {scratch, kPage, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, static_cast<uint64_t>(-1),
                     0});
      !s) {
    return std::unexpected(s.error());
  }
  if (auto s = write_memory(child, scratch, std::string("\x0f\x05\xcc\xcc", 4)); !s) {
    return std::unexpected(s.error());
  }
  site_ = scratch;
  // Empty the address space around it: rewind's copy goes, the recording's comes.
  if (auto s = must(main_, "emptying the address space", SYS_munmap, {0, scratch}); !s) {
    return std::unexpected(s.error());
  }
  if (auto s = must(main_, "emptying the address space", SYS_munmap,
                    {scratch + kPage, kUserTop - scratch - kPage});
      !s) {
    return std::unexpected(s.error());
  }

  uint64_t prev_end = 0;
  for (const auto& r : image_.regions) {
    if (r.path == "[vsyscall]" || r.start >= kUserTop) {
      continue;
    }
    uint64_t start = r.start;
    if (r.path == "[stack]") {
      // The kernel grows the stack on demand; a plain mapping does not, so reserve room.
      start = std::max(prev_end, r.start > kStackReserve ? r.start - kStackReserve : 0);
    }
    if (auto s = map_region(r, start); !s) {
      return std::unexpected(s.error());
    }
    prev_end = r.end;
  }
  if (auto s = fill_saved_memory(); !s) {
    return std::unexpected(s.error());
  }
  for (const auto& r : image_.regions) {
    if (r.path == "[vsyscall]" || r.start >= kUserTop || prot_of(r.perms) == (PROT_READ | PROT_WRITE)) {
      continue;
    }
    if (auto s = must(main_, "setting memory protection", SYS_mprotect,
                      {r.start, r.end - r.start, static_cast<uint64_t>(prot_of(r.perms))});
        !s) {
      return std::unexpected(s.error());
    }
  }

  // Signal actions are per process; rdtsc trapping is inherited by new threads.
  uint64_t buf = scratch + 256;
  for (const auto& a : image_.signal_actions) {
    uint64_t act[4] = {a.handler, a.flags, a.restorer, a.mask};
    write_memory(child, buf, std::string_view(reinterpret_cast<const char*>(act), sizeof act));
    if (auto s = must(main_, "restoring a signal action", SYS_rt_sigaction,
                      {static_cast<uint64_t>(a.signal), buf, 0, 8});
        !s) {
      return std::unexpected(s.error());
    }
  }
  if (auto s = must(main_, "trapping rdtsc", SYS_prctl, {PR_SET_TSC, PR_TSC_SIGSEGV}); !s) {
    return std::unexpected(s.error());
  }
  if (image_.cpuid_trapped) {
    if (auto s = must(main_, "trapping cpuid", SYS_arch_prctl, {ARCH_SET_CPUID, 0}); !s) {
      return std::unexpected(s.error());
    }
  }

  out_.threads.push_back(child);
  for (size_t i = 1; i < image_.threads.size(); ++i) {
    constexpr uint64_t kThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                      CLONE_THREAD | CLONE_SYSVSEM;
    auto tid = sys(main_, SYS_clone, {kThreadFlags, 0, 0, 0, 0});
    if (!tid || *tid <= 0) {
      return fail("rebuilding the process: cannot create thread {} of {}", i + 1,
                  image_.threads.size());
    }
    pid_t t = static_cast<pid_t>(*tid);
    auto first = wait_thread(t);  // its first stop
    if (!first || !first->stopped()) {
      return fail("rebuilding the process: thread {} did not start", i + 1);
    }
    out_.threads.push_back(t);
  }
  TargetMemory memory(child);
  for (size_t i = 0; i < image_.threads.size(); ++i) {
    const auto& ts = image_.threads[i];
    pid_t t = out_.threads[i];
    write_memory(child, buf, std::string_view(reinterpret_cast<const char*>(&ts.sigmask), 8));
    if (auto s = must(t, "restoring a signal mask", SYS_rt_sigprocmask, {SIG_SETMASK, buf, 0, 8});
        !s) {
      return std::unexpected(s.error());
    }
    if (auto s = restore_altstack(t, ts, buf); !s) {
      return std::unexpected(s.error());
    }
    // glibc threads have the kernel clear their tid on exit; restore that where the
    // snapshot shows glibc's thread block with this thread's id.
    uint64_t tid_addr = ts.regs.fs_base + kGlibcTidOffset;
    pid_t word = 0;
    if (ts.regs.fs_base != 0 && memory.read_into(tid_addr, &word, 4) == 4 && word == ts.tid) {
      sys(t, SYS_set_tid_address, {tid_addr});
    }
  }
  if (auto s = must(main_, "removing the scratch page", SYS_munmap, {scratch, kPage}); !s) {
    return std::unexpected(s.error());
  }
  for (size_t i = 0; i < image_.threads.size(); ++i) {
    const auto& ts = image_.threads[i];
    pid_t t = out_.threads[i];
    user_regs_struct regs = ts.regs;
    apply_restart(regs);
    if (auto s = set_regs(t, regs); !s) {
      return std::unexpected(s.error());
    }
    if (!ts.xstate.empty()) {
      std::string xs = ts.xstate;
      struct iovec iov{xs.data(), xs.size()};
      if (::ptrace(PTRACE_SETREGSET, t, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0) {
        out_.warnings.push_back(fmt::format("the FPU/vector state of thread {} could not be "
                                            "restored: {}",
                                            ts.tid, errno_text(errno)));
      }
    } else if (ts.fpregs.size() == sizeof(user_fpregs_struct)) {
      ::ptrace(PTRACE_SETFPREGS, t, nullptr, const_cast<char*>(ts.fpregs.data()));
    }
  }
  return std::move(out_);
}

}  // namespace

Result<BuiltProcess> build_replay_process(const RecordingReader& reader, const ReplayImage& image) {
  Builder b(reader, image);
  auto built = b.build();
  if (!built && b.pid() > 0) {
    ::kill(b.pid(), SIGKILL);
    int status = 0;
    ::waitpid(b.pid(), &status, __WALL);
  }
  return built;
}

}  // namespace rwd
