#include "tracee/vdso_patch.h"

#include <gtest/gtest.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include <cstring>

namespace rwd {
namespace {

// This process's own vDSO, as the kernel mapped it.
std::string own_vdso(uint64_t& base) {
  base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) {
    return {};
  }
  // The vDSO is one or two pages of code; its ELF header gives the section table end.
  const auto* eh = reinterpret_cast<const unsigned char*>(base);
  uint64_t shoff = 0;
  uint16_t shnum = 0, shentsize = 0;
  std::memcpy(&shoff, eh + 0x28, 8);
  std::memcpy(&shentsize, eh + 0x3a, 2);
  std::memcpy(&shnum, eh + 0x3c, 2);
  return std::string(reinterpret_cast<const char*>(base), shoff + uint64_t{shnum} * shentsize);
}

TEST(VdsoPatch, FindsTheTimeFunctionsOfTheRunningKernel) {
  uint64_t base = 0;
  std::string image = own_vdso(base);
  ASSERT_FALSE(image.empty());
  auto patches = vdso_patches(image, base);
  ASSERT_TRUE(patches) << patches.error().message;
  bool clock_gettime = false;
  for (const auto& p : *patches) {
    EXPECT_GE(p.addr, base);
    EXPECT_EQ(p.replacement.size(), 8u);
    EXPECT_EQ(p.original, image.substr(p.addr - base, 8));
    if (p.symbol == "__vdso_clock_gettime") {
      clock_gettime = true;
      int nr = 0;
      std::memcpy(&nr, p.replacement.data() + 1, 4);
      EXPECT_EQ(nr, SYS_clock_gettime);
    }
  }
  EXPECT_TRUE(clock_gettime);
  uint64_t site = patch_syscall_site(*patches);
  std::string patched = image;
  apply_patches_to_image(patched, base, *patches);
  EXPECT_EQ(patched.substr(site - base, 2), std::string("\x0f\x05", 2));
}

TEST(VdsoPatch, RejectsWhatIsNotAVdso) {
  EXPECT_FALSE(vdso_patches("not an elf file at all, clearly", 0x1000));
  EXPECT_FALSE(vdso_patches("", 0x1000));
}

}  // namespace
}  // namespace rwd
