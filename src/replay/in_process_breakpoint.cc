#include "replay/in_process_breakpoint.h"

#include <capstone/capstone.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <vector>

#include "tracee/proc_info.h"
#include "tracee/ptrace_ops.h"
#include "tracee/target_memory.h"

namespace rwd {

namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kJmpLen = 5;  // e9 rel32
// How far the page may lie from the patch: rel32 reach, less room for the trampoline's
// own offsets and for rip-relative operands that point a little past the code.
constexpr int64_t kReach = (int64_t{1} << 31) - (int64_t{64} << 20);
// Space left free on both sides of the page, so that a stack below or a heap above a
// gap keeps some room to grow while the page exists.
constexpr uint64_t kClearance = 1ull << 20;
constexpr uint64_t kLowestMap = 1ull << 20;  // above any vm.mmap_min_addr
constexpr uint64_t kUserTop = 0x7ffffffff000ull;
constexpr uint64_t kScanWindow = 4096;  // code scanned either side for branches into the patch
constexpr size_t kMaxInsn = 15;

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

bool fits_rel32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

// One capstone handle with instruction details on, closed once.
class Disassembler {
 public:
  static Result<Disassembler> open() {
    Disassembler d;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &d.handle_) != CS_ERR_OK) {
      return fail("cannot start the capstone disassembler");
    }
    cs_option(d.handle_, CS_OPT_DETAIL, CS_OPT_ON);
    d.insn_ = cs_malloc(d.handle_);
    return d;
  }
  Disassembler(Disassembler&& o) noexcept
      : handle_(std::exchange(o.handle_, 0)), insn_(std::exchange(o.insn_, nullptr)) {}
  Disassembler& operator=(Disassembler&&) = delete;
  ~Disassembler() {
    if (insn_ != nullptr) {
      cs_free(insn_, 1);
    }
    if (handle_ != 0) {
      cs_close(&handle_);
    }
  }

  // Decodes the instruction at `at` (code[0] is at address `at`); null if invalid.
  const cs_insn* decode(std::string_view code, uint64_t at) {
    const auto* p = reinterpret_cast<const uint8_t*>(code.data());
    size_t size = code.size();
    uint64_t address = at;
    return cs_disasm_iter(handle_, &p, &size, &address, insn_) ? insn_ : nullptr;
  }

 private:
  Disassembler() = default;
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
};

bool in_group(const cs_insn& insn, uint8_t group) {
  const cs_detail& d = *insn.detail;
  return std::find(d.groups, d.groups + d.groups_count, group) != d.groups + d.groups_count;
}

// The target of a direct (immediate) jump, call, loop or jrcxz; none for others.
std::optional<uint64_t> direct_target(const cs_insn& insn) {
  if (!in_group(insn, CS_GRP_JUMP) && !in_group(insn, CS_GRP_CALL)) {
    return std::nullopt;
  }
  const cs_x86& x = insn.detail->x86;
  if (x.op_count == 1 && x.operands[0].type == X86_OP_IMM) {
    return static_cast<uint64_t>(x.operands[0].imm);
  }
  return std::nullopt;
}

// Why an instruction cannot run from the trampoline, or empty. Besides branches whose
// encoding is tied to where they sit, this refuses instructions whose effect shows the
// address they ran at: a call pushes it, syscall leaves it in rcx, and replay finds
// rdtsc, cpuid and traps by their rip.
std::string not_movable(const cs_insn& insn) {
  switch (insn.id) {
    case X86_INS_LOOP:
    case X86_INS_LOOPE:
    case X86_INS_LOOPNE:
    case X86_INS_JRCXZ:
    case X86_INS_JECXZ:
    case X86_INS_JCXZ:
      return "a loop/jrcxz instruction (rel8 only, cannot be re-encoded)";
    case X86_INS_XBEGIN:
      return "xbegin (its abort address is relative)";
    case X86_INS_RDTSC:
    case X86_INS_RDTSCP:
    case X86_INS_CPUID:
    case X86_INS_UD2:
    case X86_INS_INT3:
    case X86_INS_HLT:
      return fmt::format("{} (replay identifies it by its address)", insn.mnemonic);
    default:
      break;
  }
  if (in_group(insn, CS_GRP_CALL)) {
    return "a call (it would push a return address inside the trampoline)";
  }
  if (in_group(insn, CS_GRP_INT) || in_group(insn, CS_GRP_IRET) ||
      in_group(insn, CS_GRP_PRIVILEGE)) {
    return fmt::format("{} (a syscall or trap: its address shows)", insn.mnemonic);
  }
  return {};
}

// Machine code being assembled at a known address.
class Code {
 public:
  explicit Code(uint64_t base) : base_(base) {}

  uint64_t here() const { return base_ + bytes_.size(); }
  const std::string& bytes() const { return bytes_; }
  void emit(std::initializer_list<uint8_t> b) {
    for (uint8_t c : b) {
      bytes_.push_back(static_cast<char>(c));
    }
  }
  void emit(std::string_view b) { bytes_.append(b); }
  void emit32(int64_t v) {
    auto u = static_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i) {
      bytes_.push_back(static_cast<char>(u >> (8 * i)));
    }
  }
  // A rel32 to `target`, measured from the end of an instruction whose rel32 is its
  // last four bytes.
  Status rel32(uint64_t target) {
    int64_t rel = static_cast<int64_t>(target - (here() + 4));
    if (!fits_rel32(rel)) {
      return fail("{:#x} is out of rel32 reach from {:#x}", target, here());
    }
    emit32(rel);
    return ok();
  }
  // jne with a target bound later by bind_jne().
  void jne_forward() {
    emit({0x0f, 0x85});
    fixups_.push_back(bytes_.size());
    emit32(0);
  }
  void bind_jne_here() {
    for (size_t at : fixups_) {
      auto rel = static_cast<uint32_t>(bytes_.size() - (at + 4));
      std::memcpy(bytes_.data() + at, &rel, 4);
    }
    fixups_.clear();
  }
  // cmp reg64, [rip + disp32] pointing at `slot`.
  Status cmp_reg_rip(uint8_t reg, uint64_t slot) {
    emit({static_cast<uint8_t>(0x48 | (reg >= 8 ? 0x04 : 0)), 0x3b,
          static_cast<uint8_t>(((reg & 7) << 3) | 0x05)});
    return rel32(slot);
  }

 private:
  uint64_t base_;
  std::string bytes_;
  std::vector<size_t> fixups_;
};

// The instructions the patch displaces, decoded.
struct Displaced {
  struct Insn {
    uint64_t addr = 0;
    std::string bytes;
    std::optional<uint64_t> branch_target;  // direct jmp/jcc: re-encoded
    std::optional<uint8_t> jcc_condition;   // low nibble of the jcc opcode
    int disp_offset = 0;                    // rip-relative displacement, 0 if none
  };
  std::vector<Insn> insns;
  size_t len = 0;
};

// Decodes whole instructions from `addr` until they cover a 5-byte jmp.
Result<Displaced> decode_displaced(Disassembler& dis, std::string_view code, uint64_t addr) {
  Displaced out;
  while (out.len < kJmpLen) {
    if (out.len >= code.size()) {
      return fail("the patch at {:#x} would run past the end of its mapping", addr);
    }
    uint64_t at = addr + out.len;
    const cs_insn* insn = dis.decode(code.substr(out.len, kMaxInsn), at);
    if (insn == nullptr) {
      return fail("cannot decode the instruction at {:#x}", at);
    }
    if (out.len + insn->size > code.size()) {
      return fail("the patch at {:#x} would run past the end of its mapping", addr);
    }
    if (auto why = not_movable(*insn); !why.empty()) {
      return fail("the instruction at {:#x} is {}", at, why);
    }
    Displaced::Insn d;
    d.addr = at;
    d.bytes.assign(reinterpret_cast<const char*>(insn->bytes), insn->size);
    const cs_x86& x = insn->detail->x86;
    if (in_group(*insn, CS_GRP_JUMP)) {
      d.branch_target = direct_target(*insn);
      if (!d.branch_target) {
        // Indirect: fine from anywhere, unless it reads its target rip-relative (then
        // the displacement is re-based below).
      } else if (insn->id != X86_INS_JMP) {
        d.jcc_condition = static_cast<uint8_t>(x.opcode[0] == 0x0f ? x.opcode[1] & 0x0f
                                                                   : x.opcode[0] & 0x0f);
      }
    }
    for (int i = 0; i < x.op_count; ++i) {
      if (x.operands[i].type == X86_OP_MEM && x.operands[i].mem.base == X86_REG_RIP) {
        if (x.encoding.disp_size != 4 || x.encoding.disp_offset == 0) {
          return fail("cannot re-base the rip-relative operand at {:#x}", at);
        }
        d.disp_offset = x.encoding.disp_offset;
      }
    }
    out.len += insn->size;
    out.insns.push_back(std::move(d));
  }
  return out;
}

// Refuses when a direct branch in the code around the patch lands strictly inside it,
// where it would find the middle of the jmp. Linear disassembly: the part before addr
// resynchronises on its own after a few instructions; the part from addr on starts at
// a known boundary. Jump tables and other indirect branches are not seen.
Status check_branches_into(Disassembler& dis, std::string_view code, uint64_t code_start,
                           uint64_t addr, size_t len) {
  auto scan = [&](uint64_t from, uint64_t to) -> Status {
    uint64_t at = from;
    while (at < to) {
      const cs_insn* insn = dis.decode(code.substr(at - code_start, kMaxInsn), at);
      if (insn == nullptr) {
        ++at;  // data or padding: step a byte and resynchronise
        continue;
      }
      if (auto target = direct_target(*insn); target && *target > addr && *target < addr + len) {
        return fail("the {} at {:#x} jumps to {:#x}, inside the {} patched bytes at {:#x}",
                    insn->mnemonic, at, *target, len, addr);
      }
      at += insn->size;
    }
    return ok();
  };
  if (auto s = scan(code_start, addr); !s) {
    return s;
  }
  return scan(addr, code_start + code.size());
}

// Any `0f 05` in an executable mapping serves as a syscall instruction for injection:
// the thread is sent straight to it, so it need not start a real instruction there.
Result<uint64_t> find_syscall_site(TargetMemory& mem, const std::vector<MapEntry>& maps) {
  std::vector<const MapEntry*> order;
  for (const auto& m : maps) {
    if (m.executable() && m.path != "[vsyscall]") {
      order.push_back(&m);
    }
  }
  // The vDSO is small and always has its syscall fallbacks.
  std::stable_partition(order.begin(), order.end(),
                        [](const MapEntry* m) { return m->path == "[vdso]"; });
  constexpr uint64_t kScanPerMapping = 1 << 20;
  std::string buf;
  for (const MapEntry* m : order) {
    if (!mem.read(m->start, std::min(m->size(), kScanPerMapping), buf)) {
      continue;
    }
    if (auto at = buf.find(std::string_view("\x0f\x05", 2)); at != std::string::npos) {
      return m->start + at;
    }
  }
  return fail("process {} has no syscall instruction in its executable mappings", mem.pid());
}

// Free page-aligned addresses within reach of addr, nearest first.
std::vector<uint64_t> page_candidates(const std::vector<MapEntry>& maps, uint64_t addr) {
  std::vector<std::pair<uint64_t, uint64_t>> used;
  for (const auto& m : maps) {
    if (m.start < kUserTop) {
      used.emplace_back(m.start, m.end);
    }
  }
  std::sort(used.begin(), used.end());
  uint64_t lo_reach = addr > static_cast<uint64_t>(kReach) ? addr - kReach : 0;
  uint64_t hi_reach = addr + kReach;
  std::vector<uint64_t> out;
  uint64_t gap_start = kLowestMap;
  auto consider = [&](uint64_t gs, uint64_t ge) {
    uint64_t lo = std::max({gs + kClearance, lo_reach, kLowestMap});
    lo = (lo + kPage - 1) & ~(kPage - 1);
    if (ge < kClearance + kPage) {
      return;
    }
    uint64_t hi = std::min(ge - kClearance - kPage, hi_reach) & ~(kPage - 1);
    if (lo > hi) {
      return;
    }
    uint64_t page = addr & ~(kPage - 1);
    out.push_back(std::clamp(page, lo, hi));
  };
  for (const auto& [start, end] : used) {
    if (start > gap_start) {
      consider(gap_start, start);
    }
    gap_start = std::max(gap_start, end);
  }
  consider(gap_start, kUserTop);
  auto distance = [addr](uint64_t p) { return p > addr ? p - addr : addr - p; };
  std::sort(out.begin(), out.end(),
            [&](uint64_t a, uint64_t b) { return distance(a) < distance(b); });
  return out;
}

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
                             const user_regs_struct& want, const user_regs_struct& now) {
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
  for (const auto& insn : displaced.insns) {
    image.copies.emplace_back(c.here(), insn.addr);
    if (insn.branch_target && insn.jcc_condition) {
      c.emit({0x0f, static_cast<uint8_t>(0x80 | *insn.jcc_condition)});
      if (auto s = c.rel32(*insn.branch_target); !s) {
        return std::unexpected(s.error());
      }
    } else if (insn.branch_target) {
      c.emit({0xe9});
      if (auto s = c.rel32(*insn.branch_target); !s) {
        return std::unexpected(s.error());
      }
    } else if (insn.disp_offset != 0) {
      int32_t disp;
      std::memcpy(&disp, insn.bytes.data() + insn.disp_offset, 4);
      uint64_t target = insn.addr + insn.bytes.size() + static_cast<int64_t>(disp);
      int64_t moved = static_cast<int64_t>(target - (c.here() + insn.bytes.size()));
      if (!fits_rel32(moved)) {
        return fail("the rip-relative operand at {:#x} ({:#x}) is out of reach of {:#x}",
                    insn.addr, target, page);
      }
      std::string b = insn.bytes;
      auto d32 = static_cast<int32_t>(moved);
      std::memcpy(b.data() + insn.disp_offset, &d32, 4);
      c.emit(b);
    } else {
      c.emit(insn.bytes);
    }
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

bool is_error(int64_t rc) { return rc < 0 && rc > -4096; }

}  // namespace

Result<InProcessBreakpoint> InProcessBreakpoint::install(pid_t pid, pid_t stopped_tid,
                                                         uint64_t addr,
                                                         const user_regs_struct& want) {
  auto why = [addr](const Error& e) {
    return std::unexpected(e.context(fmt::format("no in-process breakpoint at {:#x}", addr)));
  };
  auto maps = read_maps(pid);
  if (!maps) {
    return why(maps.error());
  }
  auto home = std::find_if(maps->begin(), maps->end(),
                           [addr](const MapEntry& m) { return m.start <= addr && addr < m.end; });
  if (home == maps->end() || !home->executable()) {
    return why(Error{"the address is not in an executable mapping"});
  }
  auto now = get_regs(stopped_tid);
  if (!now) {
    return why(now.error());
  }

  // The code around addr, within its mapping.
  uint64_t code_start = std::max(home->start, addr > kScanWindow ? addr - kScanWindow : 0);
  uint64_t code_end = std::min(home->end, addr + kScanWindow);
  TargetMemory mem(pid);
  std::string code;
  if (!mem.read(code_start, code_end - code_start, code) ||
      code.size() != code_end - code_start) {
    return why(Error{"cannot read the code around it"});
  }
  auto dis = Disassembler::open();
  if (!dis) {
    return why(dis.error());
  }
  auto displaced = decode_displaced(*dis, std::string_view(code).substr(addr - code_start), addr);
  if (!displaced) {
    return why(displaced.error());
  }
  if (auto s = check_branches_into(*dis, code, code_start, addr, displaced->len); !s) {
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
    auto page = build_page(cand, addr, *displaced, want, *now);
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
