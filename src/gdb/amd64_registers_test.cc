#include "gdb/amd64_registers.h"

#include <gtest/gtest.h>

#include "gdb/gdb_packet.h"
#include "gdb/test_debug_target.h"

namespace rwd {
namespace {

// Byte offset of register `regnum` in the 'g' packet's raw bytes.
size_t g_offset(size_t regnum) {
  size_t offset = 0;
  for (size_t n = 0; n < regnum; ++n) {
    offset += amd64_registers()[n].bits / 8;
  }
  return offset;
}

TargetRegisters sample() {
  testing::TestDebugTarget target;
  return *target.registers(testing::TestDebugTarget::kMainTid);
}

TEST(GdbRegistersTest, TableFollowsGdbsAmd64LinuxNumbering) {
  auto regs = amd64_registers();
  ASSERT_EQ(regs.size(), 60u);
  EXPECT_EQ(regs[0].name, "rax");
  EXPECT_EQ(regs[7].name, "rsp");
  EXPECT_EQ(regs[15].name, "r15");
  EXPECT_EQ(regs[kAmd64Rip].name, "rip");
  EXPECT_EQ(regs[17].name, "eflags");
  EXPECT_EQ(regs[23].name, "gs");
  EXPECT_EQ(regs[24].name, "st0");
  EXPECT_EQ(regs[32].name, "fctrl");
  EXPECT_EQ(regs[39].name, "fop");
  EXPECT_EQ(regs[40].name, "xmm0");
  EXPECT_EQ(regs[55].name, "xmm15");
  EXPECT_EQ(regs[56].name, "mxcsr");
  EXPECT_EQ(regs[57].name, "orig_rax");
  EXPECT_EQ(regs[58].name, "fs_base");
  EXPECT_EQ(regs[59].name, "gs_base");
  EXPECT_EQ(g_offset(60), 560u);
}

TEST(GdbRegistersTest, GPacketPutsEachRegisterWhereGdbExpectsIt) {
  TargetRegisters r = sample();
  std::string g = encode_g_packet(r);
  ASSERT_EQ(g.size(), 2 * 560u);
  auto at = [&g](size_t regnum, size_t bytes) { return g.substr(2 * g_offset(regnum), 2 * bytes); };
  EXPECT_EQ(at(0, 8), "1111111111111111");
  EXPECT_EQ(at(2, 8), "9210000000000000");  // rcx = tid 4242, little-endian
  EXPECT_EQ(at(6, 8), "1000fe7f00000000");
  EXPECT_EQ(at(kAmd64Rip, 8), "0010400000000000");
  EXPECT_EQ(at(17, 4), "46020000");
  EXPECT_EQ(at(18, 4), "33000000");
  EXPECT_EQ(at(24, 10), "0000000000000080ff3f");  // st0 = 1.0
  EXPECT_EQ(at(32, 4), "7f030000");
  EXPECT_EQ(at(33, 4), "00380000");
  EXPECT_EQ(at(34, 4), "ff3f0000");  // only physical register 7 in use, and valid
  EXPECT_EQ(at(40, 16), "000102030405060708090a0b0c0d0e0f");
  EXPECT_EQ(at(56, 4), "801f0000");
  EXPECT_EQ(at(57, 8), "ffffffffffffffff");
  EXPECT_EQ(at(58, 8), "00100000007f0000");
}

TEST(GdbRegistersTest, GPacketRoundTrips) {
  TargetRegisters r = sample();
  TargetRegisters zero{};
  auto back = decode_g_packet(encode_g_packet(r), zero);
  ASSERT_TRUE(back);
  EXPECT_EQ(encode_g_packet(*back), encode_g_packet(r));
  EXPECT_EQ(back->gp.rip, r.gp.rip);
  EXPECT_EQ(back->fp.ftw, r.fp.ftw);
  EXPECT_FALSE(decode_g_packet(encode_g_packet(r) + "00", zero));
  EXPECT_FALSE(decode_g_packet("zz", zero));
}

TEST(GdbRegistersTest, SingleRegisterDecodeKeepsTheOthers) {
  TargetRegisters r = sample();
  std::string raw(8, '\0');
  raw[0] = 0x42;
  ASSERT_TRUE(decode_register(r, kAmd64Rip, raw));
  EXPECT_EQ(r.gp.rip, 0x42u);
  EXPECT_EQ(r.gp.rsp, 0x7ffe0000u);
  EXPECT_FALSE(decode_register(r, kAmd64Rip, "1234"));
  EXPECT_FALSE(decode_register(r, 60, raw));
  EXPECT_FALSE(encode_register(r, 60).has_value());
}

TEST(GdbRegistersTest, X87TagWordClassifiesRegisters) {
  user_fpregs_struct fp{};
  EXPECT_EQ(full_x87_tag_word(fp), 0xffff);  // all empty
  fp.swd = 0;  // top = 0: st(i) is physical register i
  fp.ftw = 0x03;
  // st0 zero; st1 infinity (exponent all ones)
  uint16_t inf_exponent = 0x7fff;
  uint64_t inf_mantissa = 1ull << 63;
  std::memcpy(reinterpret_cast<char*>(fp.st_space) + 16, &inf_mantissa, 8);
  std::memcpy(reinterpret_cast<char*>(fp.st_space) + 24, &inf_exponent, 2);
  uint16_t word = full_x87_tag_word(fp);
  EXPECT_EQ(word & 3, 1);         // zero
  EXPECT_EQ((word >> 2) & 3, 2);  // special
  EXPECT_EQ(word >> 4, 0xfff);    // empty
  EXPECT_EQ(abridged_x87_tag(word), 0x03);
}

TEST(GdbRegistersTest, TargetDescriptionNamesArchitectureAndFeatures) {
  const std::string& xml = amd64_target_xml();
  EXPECT_NE(xml.find("<architecture>i386:x86-64</architecture>"), std::string::npos);
  EXPECT_NE(xml.find("<osabi>GNU/Linux</osabi>"), std::string::npos);
  for (const char* feature : {"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
                              "org.gnu.gdb.i386.linux", "org.gnu.gdb.i386.segments"}) {
    EXPECT_NE(xml.find(fmt::format("<feature name=\"{}\">", feature)), std::string::npos)
        << feature;
  }
  auto regs = amd64_registers();
  for (size_t n = 0; n < regs.size(); ++n) {
    EXPECT_NE(xml.find(fmt::format("name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"",
                                   regs[n].name, regs[n].bits, regs[n].type, n)),
              std::string::npos)
        << regs[n].name;
  }
}

}  // namespace
}  // namespace rwd
