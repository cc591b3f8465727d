#include "gdb/amd64_registers.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "gdb/gdb_packet.h"

namespace rwd {

namespace {

constexpr std::string_view kCore = "org.gnu.gdb.i386.core";
constexpr std::string_view kSse = "org.gnu.gdb.i386.sse";
constexpr std::string_view kLinux = "org.gnu.gdb.i386.linux";
constexpr std::string_view kSegments = "org.gnu.gdb.i386.segments";

#define RWD_GP(field) offsetof(TargetRegisters, gp.field), sizeof(user_regs_struct::field)
#define RWD_FP(field) offsetof(TargetRegisters, fp.field), sizeof(user_fpregs_struct::field)

RegisterInfo field(std::string_view name, size_t bits, std::string_view type,
                   std::string_view feature, size_t offset, size_t size,
                   std::string_view group = {}) {
  return RegisterInfo{name, bits, type, group, feature, RegisterInfo::Source::kField, offset,
                      size};
}

std::vector<RegisterInfo> build_table() {
  std::vector<RegisterInfo> t;
  t.push_back(field("rax", 64, "int64", kCore, RWD_GP(rax)));
  t.push_back(field("rbx", 64, "int64", kCore, RWD_GP(rbx)));
  t.push_back(field("rcx", 64, "int64", kCore, RWD_GP(rcx)));
  t.push_back(field("rdx", 64, "int64", kCore, RWD_GP(rdx)));
  t.push_back(field("rsi", 64, "int64", kCore, RWD_GP(rsi)));
  t.push_back(field("rdi", 64, "int64", kCore, RWD_GP(rdi)));
  t.push_back(field("rbp", 64, "data_ptr", kCore, RWD_GP(rbp)));
  t.push_back(field("rsp", 64, "data_ptr", kCore, RWD_GP(rsp)));
  t.push_back(field("r8", 64, "int64", kCore, RWD_GP(r8)));
  t.push_back(field("r9", 64, "int64", kCore, RWD_GP(r9)));
  t.push_back(field("r10", 64, "int64", kCore, RWD_GP(r10)));
  t.push_back(field("r11", 64, "int64", kCore, RWD_GP(r11)));
  t.push_back(field("r12", 64, "int64", kCore, RWD_GP(r12)));
  t.push_back(field("r13", 64, "int64", kCore, RWD_GP(r13)));
  t.push_back(field("r14", 64, "int64", kCore, RWD_GP(r14)));
  t.push_back(field("r15", 64, "int64", kCore, RWD_GP(r15)));
  t.push_back(field("rip", 64, "code_ptr", kCore, RWD_GP(rip)));
  t.push_back(field("eflags", 32, "i386_eflags", kCore, RWD_GP(eflags)));
  t.push_back(field("cs", 32, "int32", kCore, RWD_GP(cs)));
  t.push_back(field("ss", 32, "int32", kCore, RWD_GP(ss)));
  t.push_back(field("ds", 32, "int32", kCore, RWD_GP(ds)));
  t.push_back(field("es", 32, "int32", kCore, RWD_GP(es)));
  t.push_back(field("fs", 32, "int32", kCore, RWD_GP(fs)));
  t.push_back(field("gs", 32, "int32", kCore, RWD_GP(gs)));
  static constexpr std::string_view kSt[] = {"st0", "st1", "st2", "st3",
                                             "st4", "st5", "st6", "st7"};
  for (size_t i = 0; i < 8; ++i) {
    // fxsave keeps st(i) in 16-byte slots; the value is the low 10 bytes.
    t.push_back(field(kSt[i], 80, "i387_ext", kCore,
                      offsetof(TargetRegisters, fp.st_space) + i * 16, 10));
  }
  t.push_back(field("fctrl", 32, "int", kCore, RWD_FP(cwd), "float"));
  t.push_back(field("fstat", 32, "int", kCore, RWD_FP(swd), "float"));
  RegisterInfo ftag = field("ftag", 32, "int", kCore, RWD_FP(ftw), "float");
  ftag.source = RegisterInfo::Source::kFullTagWord;
  t.push_back(ftag);
  // In 64-bit fxsave the instruction and operand pointers are 64 bits wide; gdb shows
  // their upper halves as fiseg/foseg.
  size_t fip = offsetof(TargetRegisters, fp.rip);
  size_t fdp = offsetof(TargetRegisters, fp.rdp);
  t.push_back(field("fiseg", 32, "int", kCore, fip + 4, 4, "float"));
  t.push_back(field("fioff", 32, "int", kCore, fip, 4, "float"));
  t.push_back(field("foseg", 32, "int", kCore, fdp + 4, 4, "float"));
  t.push_back(field("fooff", 32, "int", kCore, fdp, 4, "float"));
  t.push_back(field("fop", 32, "int", kCore, RWD_FP(fop), "float"));
  static constexpr std::string_view kXmm[] = {
      "xmm0", "xmm1", "xmm2",  "xmm3",  "xmm4",  "xmm5",  "xmm6",  "xmm7",
      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};
  for (size_t i = 0; i < 16; ++i) {
    t.push_back(field(kXmm[i], 128, "vec128", kSse,
                      offsetof(TargetRegisters, fp.xmm_space) + i * 16, 16));
  }
  t.push_back(field("mxcsr", 32, "i386_mxcsr", kSse, RWD_FP(mxcsr), "vector"));
  t.push_back(field("orig_rax", 64, "int", kLinux, RWD_GP(orig_rax)));
  t.push_back(field("fs_base", 64, "int", kSegments, RWD_GP(fs_base)));
  t.push_back(field("gs_base", 64, "int", kSegments, RWD_GP(gs_base)));
  return t;
}

#undef RWD_GP
#undef RWD_FP

const std::vector<RegisterInfo>& table() {
  static const std::vector<RegisterInfo> t = build_table();
  return t;
}

// Types the registers refer to, defined inside the feature that uses them first.
constexpr std::string_view kCoreTypes = R"(
  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/>
    <field name="" start="1" end="1"/>
    <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/>
    <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/>
    <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/>
    <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/>
    <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/>
    <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/>
    <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/>
    <field name="ID" start="21" end="21"/>
  </flags>
)";

constexpr std::string_view kSseTypes = R"(
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v16i8" type="int8" count="16"/>
  <vector id="v8i16" type="int16" count="8"/>
  <vector id="v4i32" type="int32" count="4"/>
  <vector id="v2i64" type="int64" count="2"/>
  <union id="vec128">
    <field name="v4_float" type="v4f"/>
    <field name="v2_double" type="v2d"/>
    <field name="v16_int8" type="v16i8"/>
    <field name="v8_int16" type="v8i16"/>
    <field name="v4_int32" type="v4i32"/>
    <field name="v2_int64" type="v2i64"/>
    <field name="uint128" type="uint128"/>
  </union>
  <flags id="i386_mxcsr" size="4">
    <field name="IE" start="0" end="0"/>
    <field name="DE" start="1" end="1"/>
    <field name="ZE" start="2" end="2"/>
    <field name="OE" start="3" end="3"/>
    <field name="UE" start="4" end="4"/>
    <field name="PE" start="5" end="5"/>
    <field name="DAZ" start="6" end="6"/>
    <field name="IM" start="7" end="7"/>
    <field name="DM" start="8" end="8"/>
    <field name="ZM" start="9" end="9"/>
    <field name="OM" start="10" end="10"/>
    <field name="UM" start="11" end="11"/>
    <field name="PM" start="12" end="12"/>
    <field name="FZ" start="15" end="15"/>
  </flags>
)";

std::string build_target_xml() {
  std::string xml =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
      "<target version=\"1.0\">\n"
      "  <architecture>i386:x86-64</architecture>\n"
      "  <osabi>GNU/Linux</osabi>\n";
  std::string_view open_feature;
  const auto& regs = table();
  for (size_t n = 0; n < regs.size(); ++n) {
    const RegisterInfo& r = regs[n];
    if (r.feature != open_feature) {
      if (!open_feature.empty()) {
        xml += "  </feature>\n";
      }
      open_feature = r.feature;
      xml += fmt::format("  <feature name=\"{}\">", r.feature);
      if (r.feature == kCore) {
        xml += kCoreTypes;
      } else if (r.feature == kSse) {
        xml += kSseTypes;
      } else {
        xml += "\n";
      }
    }
    xml += fmt::format("    <reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"", r.name,
                       r.bits, r.type, n);
    if (!r.group.empty()) {
      xml += fmt::format(" group=\"{}\"", r.group);
    }
    xml += "/>\n";
  }
  xml += "  </feature>\n</target>\n";
  return xml;
}

// x87 tag values in the full tag word.
constexpr unsigned kTagValid = 0;
constexpr unsigned kTagZero = 1;
constexpr unsigned kTagSpecial = 2;
constexpr unsigned kTagEmpty = 3;

unsigned classify_x87(const unsigned char* value) {
  uint64_t mantissa;
  std::memcpy(&mantissa, value, 8);
  unsigned exponent = (value[8] | value[9] << 8) & 0x7fff;
  if (exponent == 0x7fff) {
    return kTagSpecial;  // infinity or NaN
  }
  if (exponent == 0) {
    return mantissa == 0 ? kTagZero : kTagSpecial;  // zero, or denormal
  }
  // A normal number has the explicit integer bit set; without it, it is unnormal.
  return (mantissa >> 63) != 0 ? kTagValid : kTagSpecial;
}

}  // namespace

std::span<const RegisterInfo> amd64_registers() { return table(); }

uint16_t full_x87_tag_word(const user_fpregs_struct& fp) {
  // fxsave stores registers by stack position st(i); tags are by physical register,
  // and physical register p holds st((p - top) mod 8).
  unsigned top = (fp.swd >> 11) & 7;
  uint16_t word = 0;
  for (unsigned p = 0; p < 8; ++p) {
    unsigned tag = kTagEmpty;
    if ((fp.ftw >> p) & 1) {
      unsigned st = (p - top) & 7;
      tag = classify_x87(reinterpret_cast<const unsigned char*>(fp.st_space) + st * 16);
    }
    word = static_cast<uint16_t>(word | tag << (2 * p));
  }
  return word;
}

uint8_t abridged_x87_tag(uint16_t full_tag_word) {
  uint8_t tag = 0;
  for (unsigned p = 0; p < 8; ++p) {
    if (((full_tag_word >> (2 * p)) & 3) != kTagEmpty) {
      tag = static_cast<uint8_t>(tag | 1u << p);
    }
  }
  return tag;
}

std::optional<std::string> encode_register(const TargetRegisters& regs, size_t regnum) {
  if (regnum >= table().size()) {
    return std::nullopt;
  }
  const RegisterInfo& r = table()[regnum];
  std::string raw(r.bits / 8, '\0');
  if (r.source == RegisterInfo::Source::kFullTagWord) {
    uint32_t word = full_x87_tag_word(regs.fp);
    std::memcpy(raw.data(), &word, sizeof word);
    return raw;
  }
  const auto* base = reinterpret_cast<const char*>(&regs);
  std::memcpy(raw.data(), base + r.offset, std::min(raw.size(), r.field_size));
  return raw;
}

bool decode_register(TargetRegisters& regs, size_t regnum, std::string_view raw) {
  if (regnum >= table().size()) {
    return false;
  }
  const RegisterInfo& r = table()[regnum];
  if (raw.size() != r.bits / 8) {
    return false;
  }
  if (r.source == RegisterInfo::Source::kFullTagWord) {
    uint32_t word;
    std::memcpy(&word, raw.data(), sizeof word);
    regs.fp.ftw = abridged_x87_tag(static_cast<uint16_t>(word));
    return true;
  }
  auto* base = reinterpret_cast<char*>(&regs);
  std::memset(base + r.offset, 0, r.field_size);
  std::memcpy(base + r.offset, raw.data(), std::min(raw.size(), r.field_size));
  return true;
}

std::string encode_g_packet(const TargetRegisters& regs) {
  std::string out;
  for (size_t n = 0; n < table().size(); ++n) {
    out += hex_encode(*encode_register(regs, n));
  }
  return out;
}

std::optional<TargetRegisters> decode_g_packet(std::string_view hex,
                                               const TargetRegisters& base) {
  auto raw = hex_decode(hex);
  if (!raw) {
    return std::nullopt;
  }
  TargetRegisters regs = base;
  std::string_view rest = *raw;
  for (size_t n = 0; n < table().size() && !rest.empty(); ++n) {
    size_t size = table()[n].bits / 8;
    if (rest.size() < size || !decode_register(regs, n, rest.substr(0, size))) {
      return std::nullopt;
    }
    rest.remove_prefix(size);
  }
  if (!rest.empty()) {
    return std::nullopt;
  }
  return regs;
}

const std::string& amd64_target_xml() {
  static const std::string xml = build_target_xml();
  return xml;
}

}  // namespace rwd
