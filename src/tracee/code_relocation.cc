#include "tracee/code_relocation.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace rwd {

namespace {

constexpr uint64_t kPage = kCodePage;
// How far the page may lie from the patch: rel32 reach, less room for the trampoline's
// own offsets and for rip-relative operands that point a little past the code.
constexpr int64_t kReach = (int64_t{1} << 31) - (int64_t{64} << 20);
// Space left free on both sides of the page, so that a stack below or a heap above a
// gap keeps some room to grow while the page exists.
constexpr uint64_t kClearance = 1ull << 20;
constexpr uint64_t kLowestMap = 1ull << 20;  // above any vm.mmap_min_addr
constexpr uint64_t kUserTop = 0x7ffffffff000ull;
constexpr size_t kMaxInsn = 15;


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

}  // namespace

bool fits_rel32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

void Code::emit(std::initializer_list<uint8_t> b) {
  for (uint8_t c : b) {
    bytes_.push_back(static_cast<char>(c));
  }
}

void Code::emit32(int64_t v) {
  auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) {
    bytes_.push_back(static_cast<char>(u >> (8 * i)));
  }
}

Status Code::rel32(uint64_t target) {
  int64_t rel = static_cast<int64_t>(target - (here() + 4));
  if (!fits_rel32(rel)) {
    return fail("{:#x} is out of rel32 reach from {:#x}", target, here());
  }
  emit32(rel);
  return ok();
}

size_t Code::branch(std::initializer_list<uint8_t> opcode) {
  emit(opcode);
  size_t at = bytes_.size();
  emit32(0);
  return at;
}

void Code::bind(size_t rel32_at, uint64_t target) {
  auto rel = static_cast<int32_t>(static_cast<int64_t>(target - (base_ + rel32_at + 4)));
  std::memcpy(bytes_.data() + rel32_at, &rel, 4);
}

void Code::jne_forward() {
  emit({0x0f, 0x85});
  fixups_.push_back(bytes_.size());
  emit32(0);
}

void Code::bind_jne_here() {
  for (size_t at : fixups_) {
    auto rel = static_cast<uint32_t>(bytes_.size() - (at + 4));
    std::memcpy(bytes_.data() + at, &rel, 4);
  }
  fixups_.clear();
}

Status Code::cmp_reg_rip(uint8_t reg, uint64_t slot) {
  emit({static_cast<uint8_t>(0x48 | (reg >= 8 ? 0x04 : 0)), 0x3b,
        static_cast<uint8_t>(((reg & 7) << 3) | 0x05)});
  return rel32(slot);
}

void SlotCode::note(const Status& s) {
  if (!s && status_) {
    status_ = s;
  }
}

void SlotCode::rip64(uint8_t op, uint8_t reg, uint64_t target) {
  c_.emit({0x48, op, static_cast<uint8_t>((reg << 3) | 0x05)});
  note(c_.rel32(target));
}

void SlotCode::load32(uint8_t reg, uint64_t target) {
  c_.emit({0x8b, static_cast<uint8_t>((reg << 3) | 0x05)});
  note(c_.rel32(target));
}

void SlotCode::save_flags(uint64_t flags) {
  c_.emit({0x9f});              // lahf
  c_.emit({0x0f, 0x90, 0xc0});  // seto al
  rip64(0x89, 0, slot(flags));
}

void SlotCode::restore_flags(uint64_t flags) {
  rip64(0x8b, 0, slot(flags));
  c_.emit({0x04, 0x7f});  // add al, 0x7f: OF
  c_.emit({0x9e});        // sahf: SF ZF AF PF CF
}

Result<std::string> SlotCode::finish() {
  if (!status_) {
    return std::unexpected(status_.error());
  }
  return c_.bytes();
}

uint64_t stub_word(std::string_view header, uint64_t off) {
  uint64_t v = 0;
  if (off + 8 <= header.size()) {
    std::memcpy(&v, header.data() + off, 8);
  }
  return v;
}

uint64_t restored_flags(uint64_t eflags, uint64_t image) {
  constexpr uint64_t kArithFlags = 0xd5;  // SF ZF AF PF CF, as lahf/sahf move them
  constexpr uint64_t kOverflowFlag = 0x800;
  uint64_t ah = (image >> 8) & 0xff;
  return (eflags & ~(kArithFlags | kOverflowFlag)) | (ah & kArithFlags) |
         ((image & 0xff) != 0 ? kOverflowFlag : 0);
}

Result<Displaced> decode_displaced(std::string_view code, uint64_t addr, size_t min_len) {
  auto opened = Disassembler::open();
  if (!opened) {
    return std::unexpected(opened.error());
  }
  Disassembler& dis = *opened;
  Displaced out;
  while (out.len < min_len) {
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
Status check_branches_into(std::string_view code, uint64_t code_start, uint64_t addr,
                           size_t len) {
  auto opened = Disassembler::open();
  if (!opened) {
    return std::unexpected(opened.error());
  }
  Disassembler& dis = *opened;
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
Result<CodeWindow> read_code_around(TargetMemory& mem, const std::vector<MapEntry>& maps,
                                    uint64_t addr) {
  auto home = std::find_if(maps.begin(), maps.end(),
                           [addr](const MapEntry& m) { return m.start <= addr && addr < m.end; });
  if (home == maps.end()) {
    return fail("no mapping holds {:#x}", addr);
  }
  CodeWindow w;
  w.home = &*home;
  w.start = std::max(home->start, addr > kScanWindow ? addr - kScanWindow : 0);
  uint64_t end = std::min(home->end, addr + kScanWindow);
  if (!mem.read(w.start, end - w.start, w.bytes) || w.bytes.size() != end - w.start) {
    return fail("cannot read the code around {:#x}", addr);
  }
  return w;
}

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
std::vector<uint64_t> page_candidates(const std::vector<MapEntry>& maps, uint64_t addr,
                                      uint64_t span) {
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
    if (ge < kClearance + span) {
      return;
    }
    uint64_t hi = std::min(ge - kClearance - span, hi_reach) & ~(kPage - 1);
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

Status emit_displaced(Code& c, const Displaced& displaced,
                      std::vector<std::pair<uint64_t, uint64_t>>* copies) {
  for (const auto& insn : displaced.insns) {
    if (copies != nullptr) {
      copies->emplace_back(c.here(), insn.addr);
    }
    if (insn.branch_target && insn.jcc_condition) {
      c.emit({0x0f, static_cast<uint8_t>(0x80 | *insn.jcc_condition)});
      if (auto s = c.rel32(*insn.branch_target); !s) {
        return s;
      }
    } else if (insn.branch_target) {
      c.emit({0xe9});
      if (auto s = c.rel32(*insn.branch_target); !s) {
        return s;
      }
    } else if (insn.disp_offset != 0) {
      int32_t disp;
      std::memcpy(&disp, insn.bytes.data() + insn.disp_offset, 4);
      uint64_t target = insn.addr + insn.bytes.size() + static_cast<int64_t>(disp);
      int64_t moved = static_cast<int64_t>(target - (c.here() + insn.bytes.size()));
      if (!fits_rel32(moved)) {
        return fail("the rip-relative operand at {:#x} ({:#x}) is out of reach of {:#x}",
                    insn.addr, target, c.here());
      }
      std::string b = insn.bytes;
      auto d32 = static_cast<int32_t>(moved);
      std::memcpy(b.data() + insn.disp_offset, &d32, 4);
      c.emit(b);
    } else {
      c.emit(insn.bytes);
    }
  }
  return ok();
}

}  // namespace rwd
