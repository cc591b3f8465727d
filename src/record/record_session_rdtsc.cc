// RecordSession's in-process rdtsc (tracee/rdtsc_patch.h): an rdtsc that has trapped
// once is patched to jump into a stub that answers it without a ptrace stop, and the
// stubs' values are logged at the stops of the thread that holds the CPU.
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

Status write_word(pid_t pid, uint64_t addr, uint64_t v) {
  return write_memory(pid, addr, std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
}

// glibc's and the dynamic loader's hand-written assembly may branch into the middle of
// the patched bytes in ways a scan does not see.
bool is_system_runtime(const std::string& path) {
  auto name = path.substr(path.rfind('/') + 1);
  return name.starts_with("libc.so") || name.starts_with("ld-linux") ||
         name.starts_with("libc-") || name.starts_with("ld-");
}

}  // namespace

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
    int deferred = 0;
    auto rc = inject_syscall(t.tid, injection_site_, SYS_mmap,
                             {page, RdtscPatch::kSpan, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                              static_cast<uint64_t>(-1), 0},
                             &deferred);
    keep_deferred(t, deferred);
    if (!rc) {
      return refuse(rc.error().message);
    }
    if (is_error(*rc)) {
      continue;  // taken since the maps were read: the next gap
    }
    if (static_cast<uint64_t>(*rc) != page) {
      (void)inject_syscall(t.tid, injection_site_, SYS_munmap,
                           {static_cast<uint64_t>(*rc), RdtscPatch::kSpan});
      continue;
    }
    if (!write_memory(pid_, page, patch->page_image()) ||
        (last == 0 && !write_word(pid_, patch->header() + RdtscPatch::kLastValue, tsc)) ||
        !write_memory(pid_, site, patch->site_bytes())) {
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
// (only it ran user code since), logged before that stop's own events.
void RecordSession::drain_rdtsc_stubs(Thread& t) {
  if (rdtsc_patches_.empty() || mode_ == Mode::kPreExec) {
    return;
  }
  // Every stop of the running thread comes here: one read for all the counts, nothing
  // allocated.
  size_t k = rdtsc_patches_.size();
  std::array<uint64_t, kMaxRdtscPatches> used{};
  std::array<iovec, kMaxRdtscPatches> remote{};
  for (size_t i = 0; i < k; ++i) {
    remote[i] = {reinterpret_cast<void*>(rdtsc_patches_[i].header() + RdtscPatch::kNext),
                 sizeof(uint64_t)};
  }
  iovec local{used.data(), k * sizeof(uint64_t)};
  if (::process_vm_readv(pid_, &local, 1, remote.data(), k, 0) !=
      static_cast<ssize_t>(k * sizeof(uint64_t))) {
    return;
  }
  for (size_t i = 0; i < rdtsc_patches_.size(); ++i) {
    uint64_t n = std::min(used[i], RdtscPatch::kSlots);
    if (n == 0) {
      continue;
    }
    const RdtscPatch& p = rdtsc_patches_[i];
    std::string values;
    if (!mem_ || !mem_->read(p.ring(), n * 8, values) || values.size() != n * 8 ||
        !write_word(pid_, p.header() + RdtscPatch::kNext, 0)) {
      warn_once("rdtsc-ring", fmt::format("the values of the rdtsc stub at {:#x} could not be "
                                          "read; the replay will diverge there",
                                          p.page()));
      continue;
    }
    Event e;
    e.type = EventType::kRdtscValues;
    e.tid = static_cast<uint32_t>(t.tid);
    e.time_ns = now_ns();
    e.value = static_cast<int64_t>(p.page());
    e.outputs = {{p.ring(), std::move(values)}};
    record(e);
    rdtsc_in_process_ += n;
  }
}

// A thread stopped inside a stub is moved to where the program's own code has the same
// state (RdtscPatch::settle) before rewind logs where it is.
void RecordSession::settle_in_rdtsc_stub(pid_t tid, user_regs_struct& regs) {
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
