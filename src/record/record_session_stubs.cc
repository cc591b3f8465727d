// RecordSession's stubs inside the target: an rdtsc that has trapped once is patched to
// jump into a stub that answers it without a ptrace stop (tracee/rdtsc_patch.h), and so
// are the vDSO clock functions once the process has called one (tracee/clock_stubs.h).
// The stubs' values are logged at the stops of the thread that holds the CPU.
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "record/record_session.h"
#include "tracee/code_relocation.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"

namespace rwd {

namespace {

constexpr size_t kMaxRdtscPatches = 64;

// Into a stub page (writable): process_vm_writev, which needs neither a stopped thread
// nor /proc/PID/mem (a recorder with ptrace rights only cannot open that).
bool write_page(pid_t pid, uint64_t addr, std::string_view bytes) {
  iovec local{const_cast<char*>(bytes.data()), bytes.size()};
  iovec remote{reinterpret_cast<void*>(addr), bytes.size()};
  return ::process_vm_writev(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(bytes.size());
}

bool write_word(pid_t pid, uint64_t addr, uint64_t v) {
  return write_page(pid, addr, std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
}

// glibc's and the dynamic loader's hand-written assembly may branch into the middle of
// the patched bytes in ways a scan does not see.
bool is_system_runtime(const std::string& path) {
  auto name = path.substr(path.rfind('/') + 1);
  return name.starts_with("libc.so") || name.starts_with("ld-linux") ||
         name.starts_with("libc-") || name.starts_with("ld-");
}

}  // namespace

// Maps `span` bytes (read, write, execute) at exactly `page` in the target, running mmap
// in the stopped thread `t`. False when something is there already.
Result<bool> RecordSession::map_stub_page(Thread& t, uint64_t page, uint64_t span) {
  int deferred = 0;
  auto rc = inject_syscall(t.tid, injection_site_, SYS_mmap,
                           {page, span, PROT_READ | PROT_WRITE | PROT_EXEC,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                            static_cast<uint64_t>(-1), 0},
                           &deferred);
  keep_deferred(t, deferred);
  if (!rc) {
    return std::unexpected(rc.error());
  }
  if (is_error(*rc)) {
    return false;
  }
  if (static_cast<uint64_t>(*rc) != page) {
    (void)inject_syscall(t.tid, injection_site_, SYS_munmap, {static_cast<uint64_t>(*rc), span});
    return false;
  }
  return true;
}

bool RecordSession::in_rdtsc_stub(uint64_t rip) const {
  return std::ranges::any_of(rdtsc_patches_, [rip](const auto& p) { return p.contains(rip); });
}

void RecordSession::patch_rdtsc(Thread& t, uint64_t site, uint64_t tsc, uint32_t aux) {
  // The word with the process's last value, in the first stub's page (0: none yet).
  uint64_t last = rdtsc_patches_.empty()
                      ? 0
                      : rdtsc_patches_.front().header() + RdtscPatch::kLastValue;
  if (last != 0) {
    // A stub never hands out less than a trapped rdtsc did.
    (void)write_word(pid_, last, tsc);
  }
  if (cycle_last_probe_.valid()) {
    cycle_last_offset_ = cycle_last_probe_.get();
    if (cycle_last_offset_ == 0) {
      spdlog::debug("no TSC clock word in the vvar page: every rdtsc stays trapped");
    }
  }
  if (cycle_last_offset_ == 0 || mode_ != Mode::kRecording || stop_deadline_ ||
      rdtsc_patching_off_ || rdtsc_patches_.size() >= kMaxRdtscPatches ||
      in_rdtsc_stub(site) || trapped_stub_at(vdso_patches_, site) != nullptr ||
      !rdtsc_tried_.insert(site).second) {
    return;
  }
  if (std::ranges::any_of(threads_, [](const auto& kv) { return kv.second->program_traps_tsc; }) ||
      !shares_time_namespace(pid_)) {
    return;  // its own rdtsc faults must reach it; another vvar layout
  }
  auto refuse = [site](std::string_view why) {
    spdlog::debug("the rdtsc at {:#x} stays trapped: {}", site, why);
  };
  auto maps = read_maps(pid_);
  if (!maps) {
    return refuse(maps.error().message);
  }
  auto vvar = std::ranges::find_if(*maps, [](const MapEntry& m) { return m.path == "[vvar]"; });
  if (vvar == maps->end() || !mem_) {
    return refuse("the process has no vvar page");
  }
  auto window = read_code_around(*mem_, *maps, site);
  if (!window) {
    return refuse(window.error().message);
  }
  const MapEntry& home = *window->home;
  if (home.path.empty() || home.path.front() == '[' || home.writable() ||
      is_system_runtime(home.path)) {
    return refuse(fmt::format("it lies in {}, which rewind does not patch",
                              home.path.empty() ? "anonymous memory" : home.path));
  }
  uint64_t clock = vvar->start + cycle_last_offset_;
  for (uint64_t page : page_candidates(*maps, site, RdtscPatch::kSpan)) {
    auto patch = RdtscPatch::build(window->bytes, window->start, site, page, clock, last, aux);
    if (!patch) {
      return refuse(patch.error().message);
    }
    auto mapped = map_stub_page(t, page, RdtscPatch::kSpan);
    if (!mapped) {
      return refuse(mapped.error().message);
    }
    if (!*mapped) {
      continue;  // taken since the maps were read: the next gap
    }
    // The code through the stopped thread: without /proc/PID/mem access, write_memory
    // pokes through ptrace, which only a stopped thread takes.
    if (!write_page(pid_, page, patch->page_image()) ||
        (last == 0 && !write_word(pid_, patch->header() + RdtscPatch::kLastValue, tsc)) ||
        !write_memory(t.tid, site, patch->site_bytes())) {
      (void)inject_syscall(t.tid, injection_site_, SYS_munmap, {page, RdtscPatch::kSpan});
      return refuse("its stub could not be written");
    }
    // A thread that stands after the rdtsc, on the bytes now replaced (this one does),
    // goes on from their copy.
    for (auto& [tid, other] : threads_) {
      if (!other->stopped || other->in_syscall) {
        continue;
      }
      if (auto regs = get_regs(tid); regs && patch->relocate(*regs)) {
        (void)set_regs(tid, *regs);
      }
    }
    Event e;
    e.type = EventType::kRdtscPatch;
    e.tid = static_cast<uint32_t>(t.tid);
    e.time_ns = now_ns();
    e.value = static_cast<int64_t>(site);
    e.outputs = {{page, patch->page_image()}, {site, patch->site_bytes()}};
    record(e);
    rdtsc_patches_.push_back(std::move(*patch));
    return;
  }
  refuse("no free room for its stub within 2 GiB");
}

// The values each stub handed out since the last stop of the thread holding the CPU
// (only it ran user code since), logged before that stop's own events. The clock stubs
// get the time of this stop for their next values.
void RecordSession::drain_stubs(Thread& t) {
  if ((rdtsc_patches_.empty() && !clock_stubs_) || mode_ == Mode::kPreExec) {
    return;
  }
  // Every stop of the running thread comes here: one read for all the counts, nothing
  // allocated.
  constexpr size_t kMaxPages = kMaxRdtscPatches + 1;
  size_t k = 0;
  std::array<uint64_t, kMaxPages> pages{};
  for (const auto& p : rdtsc_patches_) {
    pages[k++] = p.page();
  }
  if (clock_stubs_) {
    pages[k++] = clock_stubs_->page();
    clock_feed_.write_stopped();
  }
  std::array<uint64_t, kMaxPages> used{};
  std::array<iovec, kMaxPages> remote{};
  for (size_t i = 0; i < k; ++i) {
    remote[i] = {reinterpret_cast<void*>(pages[i] + RdtscPatch::kHeader + RdtscPatch::kNext),
                 sizeof(uint64_t)};
  }
  iovec local{used.data(), k * sizeof(uint64_t)};
  if (::process_vm_readv(pid_, &local, 1, remote.data(), k, 0) !=
      static_cast<ssize_t>(k * sizeof(uint64_t))) {
    return;
  }
  for (size_t i = 0; i < k; ++i) {
    uint64_t n = std::min(used[i], RdtscPatch::kSlots);
    if (n == 0) {
      continue;
    }
    bool clocks = clock_stubs_ && pages[i] == clock_stubs_->page();
    uint64_t ring = pages[i] + RdtscPatch::kRing;
    std::string values;
    if (!mem_ || !mem_->read(ring, n * 8, values) || values.size() != n * 8 ||
        !write_word(pid_, pages[i] + RdtscPatch::kHeader + RdtscPatch::kNext, 0)) {
      warn_once(fmt::format("ring-{}", pages[i]),
                fmt::format("the values of the {} stub at {:#x} could not be read; the replay "
                            "will diverge there",
                            clocks ? "clock" : "rdtsc", pages[i]));
      continue;
    }
    Event e;
    e.type = clocks ? EventType::kClockValues : EventType::kRdtscValues;
    e.tid = static_cast<uint32_t>(t.tid);
    e.time_ns = now_ns();
    e.value = static_cast<int64_t>(pages[i]);
    e.outputs = {{ring, std::move(values)}};
    record(e);
    (clocks ? clocks_in_process_ : rdtsc_in_process_) += n;
  }
}

// A thread stopped inside a stub is moved to where the program's own code has the same
// state (RdtscPatch::settle) before rewind logs where it is.
void RecordSession::settle_in_stub(pid_t tid, user_regs_struct& regs) {
  if (clock_stubs_ && clock_stubs_->contains(regs.rip)) {
    std::string header;
    uint64_t return_to = 0;
    std::vector<MemoryBytes> writes;
    if (mem_ && mem_->read(clock_stubs_->header(), ClockStubs::kHeaderSize, header) &&
        mem_->read_into(regs.rsp, &return_to, sizeof return_to) == sizeof return_to &&
        clock_stubs_->settle(regs, header, return_to, &writes)) {
      for (const auto& w : writes) {
        (void)write_memory(tid, w.addr, w.bytes);
      }
      (void)set_regs(tid, regs);
    }
    return;
  }
  for (const auto& p : rdtsc_patches_) {
    if (!p.contains(regs.rip)) {
      continue;
    }
    std::string header;
    if (mem_ && mem_->read(p.header(), RdtscPatch::kHeaderSize, header) &&
        p.settle(regs, header)) {
      (void)set_regs(tid, regs);
    }
    return;
  }
}

bool RecordSession::leaves_patch(user_regs_struct& regs) {
  for (const auto& p : vdso_patches_) {
    uint64_t return_to = 0;
    if (p.within(regs.rip)) {
      return mem_ && mem_->read_into(regs.rsp, &return_to, sizeof return_to) ==
                         sizeof return_to &&
             leave_patch(p, regs, return_to);
    }
  }
  return false;
}

// The stubs hand out no more values in `pid` (a child process let go, or the target at
// detach, which also gets its original code back). The pages stay: a thread may be in
// one.
void RecordSession::turn_off_rdtsc_stubs(pid_t pid, bool restore_code) {
  for (const auto& p : rdtsc_patches_) {
    (void)write_word(pid, p.header() + RdtscPatch::kLimit, 0);
    if (restore_code) {
      (void)write_memory(pid, p.site(), p.original_bytes());
    }
  }
}

}  // namespace rwd

namespace rwd {

// After a clock read through the vDSO's plain stub (`e`, at its syscall-exit stop):
// the clock functions are answered inside the target from now on, where rewind sees
// the target's clocks (the same time namespace) and answers every call with a syscall.
void RecordSession::install_clock_stubs(Thread& t, const Event& e) {
  if (clock_stubs_tried_ || !options_.in_process_clocks || mode_ != Mode::kRecording ||
      stop_deadline_ || !mem_ ||
      (e.sysno != SYS_clock_gettime && e.sysno != SYS_gettimeofday && e.sysno != SYS_time)) {
    return;
  }
  auto regs = get_regs(t.tid);
  if (!regs || !std::ranges::any_of(vdso_patches_, [&](const CodePatch& p) {
        return !p.trapped && p.syscall_at + 2 == regs->rip;
      })) {
    return;  // the program's own syscall, or the --fast-clocks stubs
  }
  clock_stubs_tried_ = true;
  auto refuse = [](std::string_view why) {
    spdlog::debug("clock reads stay syscalls: {}", why);
  };
  if (!shares_time_namespace(pid_)) {
    return refuse("the target is in another time namespace");
  }
  auto maps = read_maps(pid_);
  if (!maps) {
    return refuse(maps.error().message);
  }
  uint64_t vdso = vdso_patches_.front().addr;
  for (uint64_t page : page_candidates(*maps, vdso, ClockStubs::kSpan)) {
    auto stubs = ClockStubs::build(vdso_patches_, page);
    if (!stubs) {
      return refuse(stubs.error().message);
    }
    auto mapped = map_stub_page(t, page, ClockStubs::kSpan);
    if (!mapped) {
      return refuse(mapped.error().message);
    }
    if (!*mapped) {
      continue;  // taken since the maps were read: the next gap
    }
    bool written = write_page(pid_, page, stubs->page_image());
    Event patch;
    patch.type = EventType::kClockPatch;
    patch.tid = static_cast<uint32_t>(t.tid);
    patch.time_ns = now_ns();
    patch.value = static_cast<int64_t>(page);
    patch.outputs = {{page, stubs->page_image()}};
    for (const auto& site : stubs->sites()) {
      written = written && write_memory(t.tid, site.addr, site.bytes);
      patch.outputs.push_back({site.addr, site.bytes});
    }
    if (!written) {
      for (const auto& site : stubs->sites()) {
        (void)write_memory(t.tid, site.addr, site.plain);
      }
      (void)inject_syscall(t.tid, injection_site_, SYS_munmap, {page, ClockStubs::kSpan});
      return refuse("its page could not be written");
    }
    record(patch);
    clock_stubs_.emplace(std::move(*stubs));
    clock_feed_.start(pid_, clock_stubs_->header());
    return;
  }
  refuse("no free room for the stubs within 2 GiB of the vDSO");
}

// The clock stubs hand out no more values in `pid` (a child process let go, or the
// target at detach, which also gets the plain stubs back). The page stays.
void RecordSession::turn_off_clock_stubs(pid_t pid, bool restore_code) {
  if (!clock_stubs_) {
    return;
  }
  if (pid == pid_) {
    clock_feed_.stop();
  }
  (void)write_word(pid, clock_stubs_->header() + ClockStubs::kLimit, 0);
  if (restore_code) {
    for (const auto& site : clock_stubs_->sites()) {
      (void)write_memory(pid, site.addr, site.plain);
    }
  }
}

}  // namespace rwd
