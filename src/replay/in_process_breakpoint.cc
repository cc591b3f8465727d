#include "replay/in_process_breakpoint.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <vector>

#include "tracee/code_relocation.h"
#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

constexpr uint64_t kPage = kCodePage;

// Where things sit in the page.
constexpr uint64_t kDataOffset = 0xc00;     // 16 recorded registers, by encoding number
constexpr uint64_t kSyscallOffset = 0xf00;  // `syscall`, for running munmap
constexpr uint64_t kCodeLimit = kDataOffset;

struct Gpr {
  const char* name;
  unsigned long long user_regs_struct::*member;
  uint8_t number;  // x86 register encoding
};
constexpr Gpr kGprs[] = {
    {"rax", &user_regs_struct::rax, 0},  {"rcx", &user_regs_struct::rcx, 1},
    {"rdx", &user_regs_struct::rdx, 2},  {"rbx", &user_regs_struct::rbx, 3},
    {"rsp", &user_regs_struct::rsp, 4},  {"rbp", &user_regs_struct::rbp, 5},
    {"rsi", &user_regs_struct::rsi, 6},  {"rdi", &user_regs_struct::rdi, 7},
    {"r8", &user_regs_struct::r8, 8},    {"r9", &user_regs_struct::r9, 9},
    {"r10", &user_regs_struct::r10, 10}, {"r11", &user_regs_struct::r11, 11},
    {"r12", &user_regs_struct::r12, 12}, {"r13", &user_regs_struct::r13, 13},
    {"r14", &user_regs_struct::r14, 14}, {"r15", &user_regs_struct::r15, 15},
};
constexpr uint8_t kRsp = 4;

// The page's contents for a page at `page`. Registers that differ now between the
// stopped thread and `want` are compared first: in a loop, those are the ones that
// change from pass to pass, so most passes leave after one compare.
struct PageImage {
  std::string bytes;
  uint64_t hit_rip = 0;
  // Where each displaced instruction's copy starts, and the original's address.
  std::vector<std::pair<uint64_t, uint64_t>> copies;
};

Result<PageImage> build_page(uint64_t page, uint64_t addr, const Displaced& displaced,
                             const user_regs_struct& want, const user_regs_struct& now,
                             const std::vector<uint64_t>& equal_pairs) {
  std::vector<const Gpr*> order;
  for (const auto& g : kGprs) {
    if (now.*g.member != want.*g.member) {
      order.push_back(&g);
    }
  }
  for (const auto& g : kGprs) {
    if (now.*g.member == want.*g.member) {
      order.push_back(&g);
    }
  }
  auto slot = [page](uint8_t reg) { return page + kDataOffset + 8ull * reg; };

  Code c(page);
  // rax and the flags are kept in the page, not on the stack: the program's stack,
  // even below the red zone, may later be read back as part of a frame (and the
  // replay is compared byte for byte with the recorded final state). One thread runs
  // at a time in replay and no signal is delivered inside the trampoline, so one slot
  // each is enough. lahf/seto leave the flags in ax: sahf and `add al, 0x7f`
  // (overflow iff al was 1) put them back exactly, much faster than popfq would.
  const uint64_t save_rax = page + kDataOffset + 8ull * 16;
  const uint64_t save_flags = save_rax + 8;
  auto mov_to_slot = [&c](uint64_t at) {  // mov [rip+disp32], rax
    c.emit({0x48, 0x89, 0x05});
    return c.rel32(at);
  };
  auto mov_from_slot = [&c](uint64_t at) {  // mov rax, [rip+disp32]
    c.emit({0x48, 0x8b, 0x05});
    return c.rel32(at);
  };
  Status prologue = mov_to_slot(save_rax);
  c.emit({0x9f});              // lahf
  c.emit({0x0f, 0x90, 0xc0});  // seto al
  if (prologue) {
    prologue = mov_to_slot(save_flags);
  }
  if (prologue) {
    prologue = mov_from_slot(save_rax);  // the program's rax again, for the compares
  }
  if (!prologue) {
    return std::unexpected(prologue.error());
  }
  for (const Gpr* g : order) {
    if (auto s = c.cmp_reg_rip(g->number, slot(g->number)); !s) {
      return std::unexpected(s.error());
    }
    c.jne_forward();
  }
  // Then each pair of words in the process that must be equal (rax is free now: the
  // way out restores it).
  const uint64_t scratch = save_flags + 8;
  for (uint64_t pair : equal_pairs) {
    auto load_word = [&c](uint64_t at) {
      c.emit({0x48, 0xb8});  // movabs rax, at
      c.emit(std::string_view(reinterpret_cast<const char*>(&at), 8));
      c.emit({0x48, 0x8b, 0x00});  // mov rax, [rax]
    };
    load_word(pair);
    if (auto s = mov_to_slot(scratch); !s) {
      return std::unexpected(s.error());
    }
    load_word(pair + 8);
    if (auto s = c.cmp_reg_rip(0, scratch); !s) {
      return std::unexpected(s.error());
    }
    c.jne_forward();
  }
  Status restored = ok();
  auto restore = [&] {
    if (auto s = mov_from_slot(save_flags); !s) {
      restored = s;
    }
    c.emit({0x04, 0x7f});  // add al, 0x7f: OF
    c.emit({0x9e});        // sahf: SF ZF AF PF CF
    if (auto s = mov_from_slot(save_rax); !s) {
      restored = s;
    }
  };
  restore();
  c.emit({0xcc});  // int3: every register as at addr
  PageImage image;
  image.hit_rip = c.here();
  uint64_t original_code = c.here();
  // The displaced instructions, then back behind the patch. A thread resumed from the
  // int3 runs straight into them.
  if (auto s = emit_displaced(c, displaced, &image.copies); !s) {
    return std::unexpected(s.error());
  }
  c.emit({0xe9});
  if (auto s = c.rel32(addr + displaced.len); !s) {
    return std::unexpected(s.error());
  }
  c.bind_jne_here();  // a register differs
  restore();
  c.emit({0xe9});
  if (auto s = c.rel32(original_code); !s) {
    return std::unexpected(s.error());
  }
  if (!restored) {
    return std::unexpected(restored.error());
  }
  if (c.bytes().size() > kCodeLimit) {
    return fail("the trampoline for {:#x} does not fit its page", addr);
  }

  std::string& out = image.bytes;
  out = c.bytes();
  out.resize(kPage, '\xcc');  // stray jumps into the page trap
  for (const auto& g : kGprs) {
    uint64_t v = want.*g.member;
    std::memcpy(out.data() + kDataOffset + 8 * g.number, &v, 8);
  }
  out[kSyscallOffset] = '\x0f';
  out[kSyscallOffset + 1] = '\x05';
  return image;
}

}  // namespace

Result<InProcessBreakpoint> InProcessBreakpoint::install(pid_t pid, pid_t stopped_tid,
                                                         uint64_t addr,
                                                         const user_regs_struct& want,
                                                         const std::vector<uint64_t>& equal_pairs) {
  auto why = [addr](const Error& e) {
    return std::unexpected(e.context(fmt::format("no in-process breakpoint at {:#x}", addr)));
  };
  auto maps = read_maps(pid);
  if (!maps) {
    return why(maps.error());
  }
  auto now = get_regs(stopped_tid);
  if (!now) {
    return why(now.error());
  }
  TargetMemory mem(pid);
  auto window = read_code_around(mem, *maps, addr);
  if (!window) {
    return why(window.error());
  }
  if (!window->home->executable()) {
    return why(Error{"the address is not in an executable mapping"});
  }
  const std::string& code = window->bytes;
  uint64_t code_start = window->start;
  auto displaced = decode_displaced(std::string_view(code).substr(addr - code_start), addr);
  if (!displaced) {
    return why(displaced.error());
  }
  if (auto s = check_branches_into(code, code_start, addr, displaced->len); !s) {
    return why(s.error());
  }
  // A thread stopped on a displaced instruction after the first (a signal or preemption
  // came there) goes on from that instruction's copy in the trampoline: same state,
  // and this pass is past addr already. Between instruction starts it cannot go on.
  bool inside = now->rip > addr && now->rip < addr + displaced->len;
  if (inside && std::none_of(displaced->insns.begin(), displaced->insns.end(),
                             [&](const Displaced::Insn& i) { return i.addr == now->rip; })) {
    return why(Error{fmt::format("thread {} is stopped inside the instruction at {:#x} (rip "
                                 "{:#x})",
                                 stopped_tid, addr, now->rip)});
  }
  auto site = find_syscall_site(mem, *maps);
  if (!site) {
    return why(site.error());
  }

  InProcessBreakpoint bp;
  bp.pid_ = pid;
  bp.addr_ = addr;
  bp.original_ = code.substr(addr - code_start, displaced->len);
  std::string last_error = "no free page within 2 GiB";
  for (uint64_t cand : page_candidates(*maps, addr)) {
    auto page = build_page(cand, addr, *displaced, want, *now, equal_pairs);
    if (!page) {
      last_error = page.error().message;
      continue;
    }
    int sig = 0;
    auto rc = inject_syscall(stopped_tid, *site, SYS_mmap,
                             {cand, kPage, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                              static_cast<uint64_t>(-1), 0},
                             &sig);
    bp.deferred_signal_ = bp.deferred_signal_ != 0 ? bp.deferred_signal_ : sig;
    if (!rc) {
      return why(rc.error());
    }
    if (is_error(*rc)) {
      last_error = fmt::format("mmap at {:#x}: {}", cand, errno_text(static_cast<int>(-*rc)));
      continue;  // taken since maps was read, most likely: try the next gap
    }
    if (static_cast<uint64_t>(*rc) != cand) {
      // A kernel without MAP_FIXED_NOREPLACE took the address as a hint only.
      // The result is deliberately ignored: the page is unused, and failing to unmap
      // it leaves a harmless page behind.
      (void)inject_syscall(stopped_tid, *site, SYS_munmap, {static_cast<uint64_t>(*rc), kPage});
      last_error = fmt::format("mmap at {:#x} returned another address", cand);
      continue;
    }
    bp.page_ = cand;
    bp.hit_rip_ = page->hit_rip;
    bp.copies_ = page->copies;
    bp.syscall_site_ = cand + kSyscallOffset;
    if (auto s = write_memory(pid, cand, page->bytes); !s) {
      return why(s.error());  // bp's destructor leaves the unused page: see the header
    }
    // The jmp, and int3 over the rest of the displaced bytes: only a missed branch into
    // the middle reaches them, and it should trap rather than run garbage.
    std::string patch(displaced->len, '\xcc');
    patch[0] = '\xe9';
    auto rel = static_cast<int32_t>(static_cast<int64_t>(cand - (addr + kJmpLen)));
    std::memcpy(patch.data() + 1, &rel, 4);
    if (auto s = write_memory(pid, addr, patch); !s) {
      return why(s.error());
    }
    bp.patched_ = true;
    if (inside) {
      // Read again: the injected mmap may have applied a pending syscall restart.
      auto regs = get_regs(stopped_tid);
      if (!regs) {
        return why(regs.error());
      }
      auto copy = std::find_if(page->copies.begin(), page->copies.end(),
                               [&](const auto& c) { return c.second == regs->rip; });
      if (copy == page->copies.end()) {
        return why(Error{fmt::format("thread {} moved to {:#x} while rewind mapped the page",
                                     stopped_tid, regs->rip)});
      }
      regs->rip = copy->first;
      if (auto s = set_regs(stopped_tid, *regs); !s) {
        return why(s.error());
      }
    }
    return bp;
  }
  return why(Error{last_error});
}

InProcessBreakpoint::InProcessBreakpoint(InProcessBreakpoint&& o) noexcept
    : pid_(o.pid_), addr_(o.addr_), page_(std::exchange(o.page_, 0)), hit_rip_(o.hit_rip_),
      syscall_site_(o.syscall_site_), copies_(std::move(o.copies_)),
      original_(std::move(o.original_)),
      patched_(std::exchange(o.patched_, false)), deferred_signal_(o.deferred_signal_) {}

InProcessBreakpoint& InProcessBreakpoint::operator=(InProcessBreakpoint&& o) noexcept {
  if (this != &o) {
    if (patched_) {
      // Best effort, as in the destructor.
      (void)restore_bytes();
    }
    pid_ = o.pid_;
    addr_ = o.addr_;
    page_ = std::exchange(o.page_, 0);
    hit_rip_ = o.hit_rip_;
    syscall_site_ = o.syscall_site_;
    copies_ = std::move(o.copies_);
    original_ = std::move(o.original_);
    patched_ = std::exchange(o.patched_, false);
    deferred_signal_ = o.deferred_signal_;
  }
  return *this;
}

InProcessBreakpoint::~InProcessBreakpoint() {
  if (patched_) {
    // Ignored: the process may be gone already, and a destructor has nobody to tell.
    (void)restore_bytes();
  }
}

bool InProcessBreakpoint::is_hit(const user_regs_struct& regs) const {
  return page_ != 0 && regs.rip == hit_rip_;
}

Status InProcessBreakpoint::finish_hit(pid_t tid, user_regs_struct& regs) {
  if (!is_hit(regs)) {
    return fail("thread {} is not at the in-process breakpoint for {:#x} (rip {:#x})", tid,
                addr_, regs.rip);
  }
  regs.rip = addr_;
  return set_regs(tid, regs);
}

Status InProcessBreakpoint::restore_bytes() {
  if (auto s = write_memory(pid_, addr_, original_); !s) {
    return s;
  }
  patched_ = false;
  return ok();
}

Status InProcessBreakpoint::remove(pid_t stopped_tid) {
  if (page_ == 0) {
    return ok();
  }
  auto regs = get_regs(stopped_tid);
  if (!regs) {
    return std::unexpected(regs.error());
  }
  if (patched_) {
    if (auto s = restore_bytes(); !s) {
      return s;
    }
  }
  // At the hit, or at the start of any copied instruction, the thread's state is the
  // one it would have at the original instruction, where the original code is back.
  auto copy = std::find_if(copies_.begin(), copies_.end(),
                           [&](const auto& c) { return c.first == regs->rip; });
  if (copy != copies_.end()) {
    regs->rip = copy->second;
    if (auto s = set_regs(stopped_tid, *regs); !s) {
      return s;
    }
  } else if (regs->rip >= page_ && regs->rip < page_ + kPage) {
    return fail("thread {} is inside the trampoline page at {:#x} (rip {:#x}); the page "
                "stays mapped",
                stopped_tid, page_, regs->rip);
  }
  int sig = 0;
  auto rc = inject_syscall(stopped_tid, syscall_site_, SYS_munmap, {page_, kPage}, &sig);
  deferred_signal_ = deferred_signal_ != 0 ? deferred_signal_ : sig;
  if (!rc) {
    return std::unexpected(rc.error());
  }
  if (is_error(*rc)) {
    return fail("munmap of the trampoline page {:#x}: {}", page_,
                errno_text(static_cast<int>(-*rc)));
  }
  page_ = 0;
  return ok();
}

}  // namespace rwd
