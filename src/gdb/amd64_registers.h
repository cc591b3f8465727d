// The x86-64 register table gdb and rewind agree on: which registers exist, their
// numbers, sizes and types, and where each lives in TargetRegisters (ptrace's
// user_regs_struct and the fxsave-format user_fpregs_struct). The target description
// sent to gdb (target.xml), the 'g' packet and the 'p'/'P' packets all come from this
// one table, so their register numbering cannot drift apart.
//
// Numbering is gdb's for amd64 GNU/Linux: rax..r15 0-15, rip 16, eflags 17, cs..gs
// 18-23, st0-7 24-31, fctrl..fop 32-39, xmm0-15 40-55, mxcsr 56, orig_rax 57,
// fs_base 58, gs_base 59.
//
//   std::string g = encode_g_packet(regs);               // hex, registers in order
//   auto rip = encode_register(regs, kAmd64Rip);         // 8 raw bytes, little-endian
//   std::string xml = amd64_target_xml();
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "gdb/debug_target.h"

namespace rwd {

struct RegisterInfo {
  // How the value is found in TargetRegisters.
  enum class Source {
    kField,        // bytes at `offset`, `field_size` long, zero-extended or truncated
    kFullTagWord,  // ftag: gdb wants the full x87 tag word, fxsave keeps an abridged one
  };
  std::string_view name;
  size_t bits = 0;
  std::string_view type;     // type in the target description
  std::string_view group;    // register group, empty for gdb's default
  std::string_view feature;  // the target-description feature it belongs to
  Source source = Source::kField;
  size_t offset = 0;
  size_t field_size = 0;
};

inline constexpr size_t kAmd64Rbp = 6;
inline constexpr size_t kAmd64Rsp = 7;
inline constexpr size_t kAmd64Rip = 16;

// All registers, index = gdb register number.
std::span<const RegisterInfo> amd64_registers();

// Raw little-endian bytes of register `regnum`; nullopt for an unknown number.
std::optional<std::string> encode_register(const TargetRegisters& regs, size_t regnum);
// Stores raw bytes (exactly the register's size) into `regs`; false when they do not fit.
bool decode_register(TargetRegisters& regs, size_t regnum, std::string_view raw);

// The 'g' reply: every register in number order, hex.
std::string encode_g_packet(const TargetRegisters& regs);
// A 'G' packet's registers laid over `base` (gdb may send fewer than all); nullopt when
// the hex is malformed or longer than the table.
std::optional<TargetRegisters> decode_g_packet(std::string_view hex, const TargetRegisters& base);

// The target description for qXfer:features:read:target.xml.
const std::string& amd64_target_xml();

// The x87 tag word in gdb's full form (two bits per register: valid, zero, special,
// empty), computed from fxsave's abridged tag byte and the register contents.
uint16_t full_x87_tag_word(const user_fpregs_struct& fp);
// The abridged tag byte fxsave keeps: bit i set unless register i is empty.
uint8_t abridged_x87_tag(uint16_t full_tag_word);

}  // namespace rwd
