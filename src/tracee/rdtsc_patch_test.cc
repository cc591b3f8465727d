#include "tracee/rdtsc_patch.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include <cstring>
#include <optional>

namespace rwd {
namespace {

// A function `rdtsc; mov rcx, rdx; ret` in memory of its own, patched in
// this very process (whose rdtsc is not trapped, so the stub's fallback runs the real
// one), with the clock word a variable of the test.
class OwnRdtsc : public ::testing::Test {
 protected:
  void SetUp() override {
    void* m = ::mmap(nullptr, kMap, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    base_ = reinterpret_cast<uint64_t>(m);
    const unsigned char fn[] = {0x0f, 0x31, 0x48, 0x89, 0xd1, 0xc3};
    std::memcpy(m, fn, sizeof fn);
    std::string code(reinterpret_cast<const char*>(m), 4096);
    page_ = base_ + 4096;
    auto p = RdtscPatch::build(code, base_, base_, page_, reinterpret_cast<uint64_t>(&clock_), 0);
    ASSERT_TRUE(p) << p.error().message;
    patch_.emplace(std::move(*p));
    std::memcpy(reinterpret_cast<void*>(page_), patch_->page_image().data(),
                patch_->page_image().size());
    std::memcpy(m, patch_->site_bytes().data(), patch_->site_bytes().size());
  }
  void TearDown() override { ::munmap(reinterpret_cast<void*>(base_), kMap); }

  // Calls it below the red zone; returns edx:eax as rdtsc leaves them.
  uint64_t call() {
    uint64_t lo = 0, hi = 0;
    asm volatile(
        "sub $128, %%rsp\n\t"
        "call *%2\n\t"
        "add $128, %%rsp\n\t"
        : "=&a"(lo), "=&c"(hi)
        : "r"(base_)
        : "rdx", "memory", "cc");
    return hi << 32 | (lo & 0xffffffffu);
  }
  uint64_t& word(uint64_t off) {
    return *reinterpret_cast<uint64_t*>(page_ + RdtscPatch::kHeader + off);
  }
  uint64_t& slot(uint64_t i) { return *reinterpret_cast<uint64_t*>(page_ + RdtscPatch::kRing + 8 * i); }

  static constexpr size_t kMap = 4096 + RdtscPatch::kSpan;
  uint64_t base_ = 0;
  uint64_t page_ = 0;
  uint64_t clock_ = 1000;
  std::optional<RdtscPatch> patch_;
};

TEST_F(OwnRdtsc, RecordsTheKernelsClockAndNeverGoesBack) {
  EXPECT_EQ(call(), 1000u);
  EXPECT_EQ(call(), 1001u);  // the clock has not moved: one more than the last
  clock_ = 5000;
  EXPECT_EQ(call(), 5000u);
  EXPECT_EQ(word(RdtscPatch::kNext), 3u);
  EXPECT_EQ(slot(0), 1000u);
  EXPECT_EQ(slot(1), 1001u);
  EXPECT_EQ(slot(2), 5000u);
  EXPECT_EQ(word(RdtscPatch::kLastValue), 5000u);
}

TEST_F(OwnRdtsc, ReplayHandsOutTheRingThenFallsBackToTheRealRdtsc) {
  word(RdtscPatch::kMode) = 1;
  word(RdtscPatch::kLimit) = 2;
  slot(0) = 7;
  slot(1) = uint64_t{3} << 32 | 9;
  EXPECT_EQ(call(), 7u);
  EXPECT_EQ(call(), uint64_t{3} << 32 | 9);
  uint64_t before = __rdtsc();
  uint64_t real = call();  // the ring is used up: the stub's own rdtsc
  EXPECT_GE(real, before);
  EXPECT_EQ(word(RdtscPatch::kNext), 2u);
}

TEST_F(OwnRdtsc, OffIsTheRealRdtsc) {
  word(RdtscPatch::kLimit) = 0;
  uint64_t before = __rdtsc();
  EXPECT_GE(call(), before);
  EXPECT_EQ(word(RdtscPatch::kNext), 0u);
}

TEST_F(OwnRdtsc, KeepsTheFlags) {
  uint8_t carry = 0, zero = 0;
  uint64_t fn = base_;
  asm volatile(
      "stc\n\t"
      "xor %%ecx, %%ecx\n\t"  // ZF set, CF cleared...
      "stc\n\t"               // ...and CF set again
      "lea -128(%%rsp), %%rsp\n\t"
      "call *%2\n\t"
      "lea 128(%%rsp), %%rsp\n\t"  // lea: the flags stay as the call left them
      "setc %0\n\t"
      "setz %1\n\t"
      : "=r"(carry), "=r"(zero)
      : "r"(fn)
      : "rax", "rcx", "rdx", "memory", "cc");
  EXPECT_EQ(carry, 1);
  EXPECT_EQ(zero, 1);
}

TEST_F(OwnRdtsc, SettlesAThreadStoppedInsideTheStub) {
  std::string header(RdtscPatch::kHeaderSize, '\0');
  auto put = [&header](uint64_t off, uint64_t v) { std::memcpy(header.data() + off, &v, 8); };
  put(RdtscPatch::kSavedRax, 0x1111);
  put(RdtscPatch::kSavedRdx, 0x2222);
  put(RdtscPatch::kFlags, 0x4101);  // ZF CF (ah 0x41), OF (al 1)
  put(RdtscPatch::kValue, uint64_t{5} << 32 | 6);
  user_regs_struct regs{};
  regs.rip = page_ + 7;  // after rax was saved: back to the rdtsc, rax as it was
  regs.rax = 99;
  regs.rdx = 98;
  EXPECT_TRUE(patch_->settle(regs, header));
  EXPECT_EQ(regs.rip, base_);
  EXPECT_EQ(regs.rax, 0x1111u);
  EXPECT_EQ(regs.rdx, 98u);  // not saved yet
  regs.rip = patch_->fallback_rdtsc();
  regs.eflags = 0x202;
  EXPECT_TRUE(patch_->settle(regs, header));
  EXPECT_EQ(regs.rip, base_);
  EXPECT_EQ(regs.rdx, 0x2222u);
  EXPECT_EQ(regs.eflags, 0x202u | 0x40 | 0x1 | 0x800);
  // Past the commit (a 7-byte store): the stub's results, at its end.
  regs.rip = patch_->commit_store() + 7;
  EXPECT_TRUE(patch_->settle(regs, header));
  EXPECT_EQ(regs.rip, patch_->stub_exit());
  EXPECT_EQ(regs.rax, 6u);
  EXPECT_EQ(regs.rdx, 5u);
  regs = {};
  regs.rip = page_;  // at the first byte nothing is saved: only rip moves
  regs.rax = 5;
  EXPECT_TRUE(patch_->settle(regs, header));
  EXPECT_EQ(regs.rax, 5u);
  regs.rip = base_ + 100;  // the program's own code: untouched
  EXPECT_FALSE(patch_->settle(regs, header));
}

TEST(RdtscpPatch, GivesTheRecordedAuxInEcx) {
  constexpr size_t kMap = 4096 + RdtscPatch::kSpan;
  void* m = ::mmap(nullptr, kMap, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  auto base = reinterpret_cast<uint64_t>(m);
  // rdtscp; mov rdi, rdx; ret
  const unsigned char fn[] = {0x0f, 0x01, 0xf9, 0x48, 0x89, 0xd7, 0xc3};
  std::memcpy(m, fn, sizeof fn);
  uint64_t clock = uint64_t{7} << 32 | 42;
  auto p = RdtscPatch::build(std::string(static_cast<const char*>(m), 4096), base, base,
                             base + 4096, reinterpret_cast<uint64_t>(&clock), 0, 3);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->rdtscp());
  std::memcpy(reinterpret_cast<void*>(base + 4096), p->page_image().data(), p->page_image().size());
  std::memcpy(m, p->site_bytes().data(), p->site_bytes().size());
  uint64_t lo = 0, hi = 0, aux = 0;
  asm volatile(
      "lea -128(%%rsp), %%rsp\n\t"
      "call *%3\n\t"
      "lea 128(%%rsp), %%rsp\n\t"
      : "=&a"(lo), "=&D"(hi), "=&c"(aux)
      : "r"(base)
      : "rdx", "memory", "cc");
  EXPECT_EQ(lo, 42u);
  EXPECT_EQ(hi, 7u);
  EXPECT_EQ(aux, 3u);
  ::munmap(m, kMap);
}

}  // namespace
}  // namespace rwd
