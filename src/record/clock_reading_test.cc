#include "record/clock_reading.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace rwd {
namespace {

template <typename T>
T decode(const MemoryBytes& out) {
  T value{};
  EXPECT_EQ(out.bytes.size(), sizeof value);
  std::memcpy(&value, out.bytes.data(), std::min(out.bytes.size(), sizeof value));
  return value;
}

int64_t ns_of(const timespec& ts) { return ts.tv_sec * 1'000'000'000ll + ts.tv_nsec; }

TEST(ClockReading, MonotonicLiesBetweenTwoReadsOfOurOwn) {
  timespec before{}, after{};
  ::clock_gettime(CLOCK_MONOTONIC, &before);
  auto r = read_clock_for(SYS_clock_gettime, {CLOCK_MONOTONIC, 0x7000}, ::getpid());
  ::clock_gettime(CLOCK_MONOTONIC, &after);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result, 0);
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].addr, 0x7000u);
  auto got = decode<timespec>(r->outputs[0]);
  EXPECT_LE(ns_of(before), ns_of(got));
  EXPECT_LE(ns_of(got), ns_of(after));
}

TEST(ClockReading, ProcessCpuTimeIsTheTargetsNotRewinds) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();  // uses (almost) no CPU time
    ::_exit(0);
  }
  volatile uint64_t spin = 0;
  for (uint64_t i = 0; i < 200'000'000; ++i) {
    spin = spin + i;
  }
  timespec own{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &own);
  auto r = read_clock_for(SYS_clock_gettime, {CLOCK_PROCESS_CPUTIME_ID, 0x1000}, child);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(r);
  auto got = decode<timespec>(r->outputs.at(0));
  EXPECT_LT(ns_of(got), ns_of(own) / 2);
}

TEST(ClockReading, LeavesToTheKernelWhatOnlyItCanAnswer) {
  pid_t self = ::getpid();
  // A thread's CPU time, a clock id the kernel refuses, no place to write the time.
  EXPECT_FALSE(read_clock_for(SYS_clock_gettime, {CLOCK_THREAD_CPUTIME_ID, 0x1000}, self));
  EXPECT_FALSE(read_clock_for(SYS_clock_gettime, {12345, 0x1000}, self));
  EXPECT_FALSE(read_clock_for(SYS_clock_gettime, {CLOCK_REALTIME, 0}, self));
  EXPECT_FALSE(read_clock_for(SYS_getcpu, {0x1000, 0, 0}, self));
}

TEST(ClockReading, TimeAndGettimeofdayWriteOnlyWhereAsked) {
  pid_t self = ::getpid();
  auto t = read_clock_for(SYS_time, {0}, self);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->outputs.empty());
  EXPECT_NEAR(static_cast<double>(t->result), static_cast<double>(::time(nullptr)), 2.0);
  auto tv = read_clock_for(SYS_gettimeofday, {0x2000, 0}, self);
  ASSERT_TRUE(tv);
  ASSERT_EQ(tv->outputs.size(), 1u);
  EXPECT_EQ(tv->outputs[0].bytes.size(), sizeof(timeval));
  auto res = read_clock_for(SYS_clock_getres, {CLOCK_MONOTONIC, 0}, self);
  ASSERT_TRUE(res);
  EXPECT_TRUE(res->outputs.empty());
}

}  // namespace
}  // namespace rwd
