// Moving a few instructions of a traced process's code into a page of rewind's own, so
// that a 5-byte `jmp rel32` can take their place: the pieces shared by replay's
// in-process breakpoint (replay/in_process_breakpoint.h) and the recorder's in-process
// rdtsc (tracee/rdtsc_patch.h).
//
//   auto displaced = decode_displaced(code_at_addr, addr);      // whole instructions
//   check_branches_into(code_around, code_start, addr, displaced->len);
//   for (uint64_t page : page_candidates(maps, addr, span)) { ...mmap it... }
//   Code c(page); ...; emit_displaced(c, *displaced, &copies); c.emit({0xe9});
//   c.rel32(addr + displaced->len);                             // and back
//
// What cannot be moved is refused with the reason: a call (it would push an address in
// the page), loop/jrcxz (rel8 only), xbegin, syscalls and traps, rdtsc and cpuid (rewind
// finds those by their address). Direct jmp/jcc are re-encoded with 32-bit offsets to
// the same targets; rip-relative operands are re-based. Indirect jumps into the patched
// bytes (jump tables) are not seen by check_branches_into.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "tracee/proc_info.h"
#include "tracee/target_memory.h"

namespace rwd {

inline constexpr uint64_t kCodePage = 4096;
inline constexpr size_t kJmpLen = 5;           // e9 rel32
inline constexpr uint64_t kScanWindow = 4096;  // code scanned either side for branches in

bool fits_rel32(int64_t v);

// Machine code being assembled at a known address.
class Code {
 public:
  explicit Code(uint64_t base) : base_(base) {}

  uint64_t here() const { return base_ + bytes_.size(); }
  const std::string& bytes() const { return bytes_; }
  void emit(std::initializer_list<uint8_t> b);
  void emit(std::string_view b) { bytes_.append(b); }
  void emit32(int64_t v);
  // A rel32 to `target`, measured from the end of an instruction whose rel32 is its
  // last four bytes.
  Status rel32(uint64_t target);
  // A rel32 branch (e9 jmp, or a two-byte 0f 8x jcc) whose target is bound later by
  // bind(); returns where its rel32 sits.
  size_t branch(std::initializer_list<uint8_t> opcode);
  void bind(size_t rel32_at, uint64_t target);
  // jne with a target bound later by bind_jne_here().
  void jne_forward();
  void bind_jne_here();
  // cmp reg64, [rip + disp32] pointing at `slot`.
  Status cmp_reg_rip(uint8_t reg, uint64_t slot);

 private:
  uint64_t base_;
  std::string bytes_;
  std::vector<size_t> fixups_;
};

// Code for a stub page whose data words sit at `slots` in the same page, addressed
// rip-relative (the rdtsc and clock stubs). The first rel32 that does not fit is kept
// and returned by finish().
class SlotCode {
 public:
  SlotCode(uint64_t page, uint64_t slots) : c_(page), slots_(slots) {}
  Code& code() { return c_; }
  uint64_t here() const { return c_.here(); }
  uint64_t slot(uint64_t off) const { return slots_ + off; }

  // op r64, [rip + target]: 89 store, 8b load, 3b cmp, 8d lea (rax..rdi only).
  void rip64(uint8_t op, uint8_t reg, uint64_t target);
  // mov r32, [rip + target]
  void load32(uint8_t reg, uint64_t target);
  size_t branch(std::initializer_list<uint8_t> opcode) { return c_.branch(opcode); }
  void bind(size_t at, uint64_t target) { c_.bind(at, target); }
  // lahf; seto al; mov [rip + slot(flags)], rax: the arithmetic flags and OF, kept.
  void save_flags(uint64_t flags);
  // The flags save_flags kept, back (rax is lost).
  void restore_flags(uint64_t flags);
  Result<std::string> finish();

 private:
  void note(const Status& s);
  Code c_;
  uint64_t slots_;
  Status status_ = ok();
};

// The word at `off` of a stub page's header as read from the target (0 past its end).
uint64_t stub_word(std::string_view header, uint64_t off);

// Restores, in a flags register image, what SlotCode::save_flags kept in `image`.
uint64_t restored_flags(uint64_t eflags, uint64_t image);

// The instructions a patch displaces, decoded.
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

// Decodes whole movable instructions from `addr` (code[0] is at addr) until they cover
// at least `min_len` bytes.
Result<Displaced> decode_displaced(std::string_view code, uint64_t addr,
                                   size_t min_len = kJmpLen);

// Refuses when a direct branch in `code` (starting at code_start) lands strictly inside
// [addr, addr + len), where it would find the middle of the jmp.
Status check_branches_into(std::string_view code, uint64_t code_start, uint64_t addr,
                           size_t len);

// Emits the displaced instructions at c.here(), re-encoded for their new place; each
// copy's start and its original's address go to `copies` when given.
Status emit_displaced(Code& c, const Displaced& displaced,
                      std::vector<std::pair<uint64_t, uint64_t>>* copies);

// The code around `addr`: up to kScanWindow bytes on either side, within the mapping
// that holds it, as check_branches_into wants it.
struct CodeWindow {
  const MapEntry* home = nullptr;  // the mapping, an element of the maps passed in
  uint64_t start = 0;
  std::string bytes;
};
Result<CodeWindow> read_code_around(TargetMemory& mem, const std::vector<MapEntry>& maps,
                                    uint64_t addr);

// Any `0f 05` in an executable mapping (the vDSO first), for injecting syscalls.
Result<uint64_t> find_syscall_site(TargetMemory& mem, const std::vector<MapEntry>& maps);

// Free page-aligned addresses for `span` bytes within rel32 reach of addr, nearest
// first, each 1 MiB clear of its neighbours.
std::vector<uint64_t> page_candidates(const std::vector<MapEntry>& maps, uint64_t addr,
                                      uint64_t span = kCodePage);

}  // namespace rwd
