#include "tracee/vdso_patch.h"

#include <gtest/gtest.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include <cstring>

#include "tracee/test_own_vdso.h"

namespace rwd {
namespace {

TEST(VdsoPatch, FindsTheTimeFunctionsOfTheRunningKernel) {
  uint64_t base = 0;
  std::string image(own_vdso(base));
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

TEST(VdsoPatch, TrappedStubsStartWithRdtscExceptGetcpu) {
  uint64_t base = 0;
  std::string image(own_vdso(base));
  ASSERT_FALSE(image.empty());
  auto patches = vdso_patches(image, base, ClockStub::kTrapped);
  ASSERT_TRUE(patches) << patches.error().message;
  std::string patched = image;
  apply_patches_to_image(patched, base, *patches);
  for (const auto& p : *patches) {
    EXPECT_EQ(p.trapped, p.sysno != SYS_getcpu) << p.symbol;
    EXPECT_EQ(patched.substr(p.syscall_at - base, 2), std::string("\x0f\x05", 2)) << p.symbol;
    if (p.trapped) {
      EXPECT_EQ(p.replacement.substr(0, 2), std::string("\x0f\x31", 2)) << p.symbol;
      EXPECT_EQ(trapped_stub_at(*patches, p.addr), &p);
    } else {
      EXPECT_EQ(trapped_stub_at(*patches, p.addr), nullptr);
    }
    EXPECT_EQ(patched[p.syscall_at + 2 - base], '\xc3') << p.symbol;  // ret
  }
}

TEST(VdsoPatch, RejectsWhatIsNotAVdso) {
  EXPECT_FALSE(vdso_patches("not an elf file at all, clearly", 0x1000));
  EXPECT_FALSE(vdso_patches("", 0x1000));
}

}  // namespace
}  // namespace rwd
