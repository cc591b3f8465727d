#include "tracee/clock_stubs.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>

namespace rwd {
namespace {

// Three plain vDSO stubs (`mov $NR, %eax; syscall; ret`) in memory of this process,
// with the clock stubs' page after them, patched as the recorder patches a target.
class OwnClocks : public ::testing::Test {
 protected:
  void SetUp() override {
    void* m = ::mmap(nullptr, kMap, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    base_ = reinterpret_cast<uint64_t>(m);
    std::vector<CodePatch> patches;
    int i = 0;
    for (int nr : {SYS_clock_gettime, SYS_gettimeofday, SYS_time}) {
      std::string plain = "\xb8....\x0f\x05\xc3";
      std::memcpy(plain.data() + 1, &nr, 4);
      uint64_t at = base_ + 16 * i++;
      std::memcpy(reinterpret_cast<void*>(at), plain.data(), plain.size());
      patches.push_back({"f", at, plain, plain, nr, at + 5, false});
    }
    page_ = base_ + 4096;
    auto s = ClockStubs::build(patches, page_);
    ASSERT_TRUE(s) << s.error().message;
    stubs_.emplace(std::move(*s));
    std::memcpy(reinterpret_cast<void*>(page_), stubs_->page_image().data(),
                stubs_->page_image().size());
    for (const auto& site : stubs_->sites()) {
      std::memcpy(reinterpret_cast<void*>(site.addr), site.bytes.data(), site.bytes.size());
    }
  }
  void TearDown() override { ::munmap(reinterpret_cast<void*>(base_), kMap); }

  int clock_gettime(clockid_t id, timespec* ts) {
    return reinterpret_cast<int (*)(clockid_t, timespec*)>(base_)(id, ts);
  }
  int gettimeofday(timeval* tv, void* tz) {
    return reinterpret_cast<int (*)(timeval*, void*)>(base_ + 16)(tv, tz);
  }
  time_t time(time_t* t) { return reinterpret_cast<time_t (*)(time_t*)>(base_ + 32)(t); }
  uint64_t& word(uint64_t off) {
    return *reinterpret_cast<uint64_t*>(page_ + ClockStubs::kHeader + off);
  }
  uint64_t& now(int clock) { return word(ClockStubs::kNow + 8 * clock); }
  uint64_t& slot(uint64_t i) {
    return *reinterpret_cast<uint64_t*>(page_ + ClockStubs::kRing + 8 * i);
  }

  static constexpr size_t kMap = 4096 + ClockStubs::kSpan;
  uint64_t base_ = 0;
  uint64_t page_ = 0;
  std::optional<ClockStubs> stubs_;
};

TEST_F(OwnClocks, HandOutTheTableAndNeverGoBack) {
  now(CLOCK_MONOTONIC) = 5'000'000'007;
  timespec ts{};
  ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_sec, 5);
  EXPECT_EQ(ts.tv_nsec, 7);
  ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_nsec, 8);  // the table has not moved: one more than the last
  now(CLOCK_REALTIME) = 1'234'567'891'234;
  timeval tv{};
  ASSERT_EQ(gettimeofday(&tv, nullptr), 0);
  EXPECT_EQ(tv.tv_sec, 1234);
  EXPECT_EQ(tv.tv_usec, 567891);
  now(CLOCK_REALTIME_COARSE) = 1'234'000'000'000;
  time_t t = 0;
  EXPECT_EQ(time(&t), 1234);
  EXPECT_EQ(t, 1234);
  EXPECT_EQ(time(nullptr), 1234);
  EXPECT_EQ(word(ClockStubs::kNext), 5u);
  EXPECT_EQ(slot(0), 5'000'000'007u);
  EXPECT_EQ(slot(1), 5'000'000'008u);
  EXPECT_EQ(slot(2), 1'234'567'891'234u);
  EXPECT_EQ(slot(3), 1'234'000'000'000u);  // coarse: the same value again, not one more
  EXPECT_EQ(slot(4), 1'234'000'000'000u);
}

TEST_F(OwnClocks, SkipsATableBeingWritten) {
  now(CLOCK_MONOTONIC) = 1'000;
  timespec ts{};
  ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_nsec, 1'000);
  word(ClockStubs::kSeq) = 3;  // odd: the recorder is writing it
  now(CLOCK_MONOTONIC) = 5'000;
  ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_nsec, 1'001);
  word(ClockStubs::kSeq) = 4;
  ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  EXPECT_EQ(ts.tv_nsec, 5'000);
}

TEST(ClockTableFeed, FeedsTheTableWhileTheProgramRuns) {
  std::array<uint64_t, ClockStubs::kHeaderSize / 8> header{};
  ClockTableFeed feed;
  feed.start(::getpid(), reinterpret_cast<uint64_t>(header.data()));
  auto word = [&header](uint64_t off) {
    return __atomic_load_n(&header[off / 8], __ATOMIC_ACQUIRE);
  };
  uint64_t first = word(ClockStubs::kNow + 8 * CLOCK_MONOTONIC);
  EXPECT_GT(first, 0u);
  for (int i = 0; i < 200 && word(ClockStubs::kNow + 8 * CLOCK_MONOTONIC) == first; ++i) {
    ::usleep(1000);
  }
  EXPECT_GT(word(ClockStubs::kNow + 8 * CLOCK_MONOTONIC), first);  // the ticker wrote it
  feed.write_stopped();
  feed.stop();
  uint64_t seq = word(ClockStubs::kSeq);
  EXPECT_EQ(seq % 2, 0u);
  ::usleep(5000);
  EXPECT_EQ(word(ClockStubs::kSeq), seq);  // stopped: no more writes
}

TEST_F(OwnClocks, ClocksItDoesNotKeepGoToTheKernel) {
  timespec ts{};
  ASSERT_EQ(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
  EXPECT_GT(ts.tv_sec * 1'000'000'000 + ts.tv_nsec, 0);
  EXPECT_EQ(clock_gettime(42, &ts), -EINVAL);  // the raw syscall's answer
  timeval tv{};
  struct timezone tz {};
  ASSERT_EQ(gettimeofday(&tv, &tz), 0);
  EXPECT_GT(tv.tv_sec, 1'600'000'000);
  EXPECT_EQ(word(ClockStubs::kNext), 0u);
}

TEST_F(OwnClocks, ReplayHandsOutTheRingThenGoesToTheKernel) {
  word(ClockStubs::kMode) = 1;
  word(ClockStubs::kLimit) = 2;
  slot(0) = 3'000'000'001;
  slot(1) = 4'000'000'000;
  timespec ts{};
  ASSERT_EQ(clock_gettime(CLOCK_REALTIME, &ts), 0);
  EXPECT_EQ(ts.tv_sec, 3);
  EXPECT_EQ(ts.tv_nsec, 1);
  EXPECT_EQ(time(nullptr), 4);
  EXPECT_GT(time(nullptr), 1'600'000'000);  // the ring is used up: the real call
  EXPECT_EQ(word(ClockStubs::kNext), 2u);
}

TEST_F(OwnClocks, OffMeansTheKernel) {
  word(ClockStubs::kLimit) = 0;
  now(CLOCK_REALTIME) = 1;
  EXPECT_GT(time(nullptr), 1'600'000'000);
  EXPECT_EQ(word(ClockStubs::kNext), 0u);
}

TEST_F(OwnClocks, KeepsTheCallersRegistersAndFlags) {
  now(CLOCK_MONOTONIC) = 1;
  uint64_t rcx = 0x1111, rdx = 0x2222, flags_in = 0, flags_out = 0;
  timespec ts{};
  uint64_t fn = base_;
  asm volatile(
      "sub $128, %%rsp\n\t"
      "stc\n\t"
      "pushfq\n\t"
      "popq %3\n\t"
      "mov $1, %%edi\n\t"
      "mov %5, %%rsi\n\t"
      "call *%4\n\t"
      "pushfq\n\t"
      "popq %2\n\t"
      "add $128, %%rsp\n\t"
      : "+c"(rcx), "+d"(rdx), "=&r"(flags_out), "=&r"(flags_in)
      : "r"(fn), "r"(&ts)
      : "rax", "rdi", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
  EXPECT_EQ(rcx, 0x1111u);
  EXPECT_EQ(rdx, 0x2222u);
  EXPECT_EQ(flags_out & 0xcd5, flags_in & 0xcd5);
  EXPECT_EQ(ts.tv_nsec, 1);
}

TEST_F(OwnClocks, SettlesAThreadBeforeItsCommitAtTheFunctionsEntry) {
  std::string header(ClockStubs::kHeaderSize, '\0');
  uint64_t saved = 0x77;
  std::memcpy(header.data() + ClockStubs::kSavedRax, &saved, 8);
  user_regs_struct regs{};
  regs.rip = page_ + 7;  // past the first save (mov [rip + x], rax)
  regs.rax = 0x99;
  regs.rcx = 0x55;
  std::vector<MemoryBytes> writes;
  ASSERT_TRUE(stubs_->settle(regs, header, 0, &writes));
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(regs.rip, base_);
  EXPECT_EQ(regs.rax, 0x77u);
  EXPECT_EQ(regs.rcx, 0x55u);  // not saved yet: its own
  regs.rip = base_;
  EXPECT_FALSE(stubs_->settle(regs, header, 0, &writes));
}

TEST(ClockStubsNow, ReadsTheKeptClocks) {
  auto n = ClockStubs::now();
  EXPECT_GT(n[CLOCK_REALTIME], uint64_t{1'600'000'000} * 1'000'000'000);
  EXPECT_GT(n[CLOCK_MONOTONIC], 0u);
  EXPECT_EQ(n[CLOCK_PROCESS_CPUTIME_ID], 0u);
}

}  // namespace
}  // namespace rwd
