#include "record/shared_memory_watch.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace rwd {
namespace {

std::vector<MemoryBytes> within(const std::vector<MemoryBytes>& all, uint64_t lo, uint64_t hi) {
  std::vector<MemoryBytes> out;
  std::ranges::copy_if(all, std::back_inserter(out), [&](const MemoryBytes& m) {
    return lo <= m.addr && m.addr < hi;
  });
  return out;
}

// A real child process writes into a shared page it inherited; the watch sees exactly that
// page change, once, and nothing of a private page the child writes too.
TEST(SharedMemoryWatch, SeesWhatAChildWritesIntoSharedPages) {
  constexpr size_t kLen = 3 * 4096;
  auto* shared = static_cast<char*>(
      ::mmap(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  auto* priv = static_cast<char*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(shared, MAP_FAILED);
  ASSERT_NE(priv, MAP_FAILED);
  auto lo = reinterpret_cast<uint64_t>(shared);
  TargetMemory mem(::getpid());
  SharedMemoryWatch watch;
  auto maps = read_maps(::getpid());
  ASSERT_TRUE(maps);
  watch.add_shared(*maps, mem);
  EXPECT_GE(watch.watched_bytes(), kLen);

  pid_t child = ::fork();
  if (child == 0) {
    std::memset(shared + 4096, 0x5a, 16);
    std::memset(priv, 0x5a, 16);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);

  std::vector<MemoryBytes> outputs;
  watch.collect(mem, outputs);
  auto mine = within(outputs, lo, lo + kLen);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].addr, lo + 4096);
  ASSERT_EQ(mine[0].bytes.size(), 4096u);
  EXPECT_EQ(mine[0].bytes.substr(0, 16), std::string(16, '\x5a'));
  EXPECT_TRUE(within(outputs, reinterpret_cast<uint64_t>(priv),
                     reinterpret_cast<uint64_t>(priv) + 4096).empty());

  // Seen once: the copy is up to date.
  outputs.clear();
  watch.collect(mem, outputs);
  EXPECT_TRUE(within(outputs, lo, lo + kLen).empty());

  // Two runs of changed pages give two entries.
  shared[0] = 1;
  shared[2 * 4096] = 1;
  watch.collect(mem, outputs);
  mine = within(outputs, lo, lo + kLen);
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].addr, lo);
  EXPECT_EQ(mine[1].addr, lo + 2 * 4096);

  // Unmapped: forgotten.
  uint64_t before = watch.watched_bytes();
  ::munmap(shared, kLen);
  maps = read_maps(::getpid());
  ASSERT_TRUE(maps);
  watch.keep_mapped(*maps);
  EXPECT_EQ(watch.watched_bytes(), before - kLen);
  ::munmap(priv, 4096);
}

// A word the kernel is about to write for an exiting thread: kept while unchanged and its
// thread is there, collected once when it changes, forgotten once its thread is gone.
TEST(SharedMemoryWatch, CollectsAWordOnceItChanges) {
  static uint32_t word = 7;
  static uint32_t other = 9;
  TargetMemory mem(::getpid());
  SharedMemoryWatch watch;
  watch.watch_word(mem, reinterpret_cast<uint64_t>(&word), sizeof word, 7);
  watch.watch_word(mem, reinterpret_cast<uint64_t>(&other), sizeof other, 9);
  std::vector<MemoryBytes> outputs;
  watch.collect(mem, outputs);  // the kernel has not written them yet
  EXPECT_TRUE(outputs.empty());
  EXPECT_FALSE(watch.empty());

  word = 0x40000000u | 7;  // FUTEX_OWNER_DIED with the old owner's tid
  watch.collect(mem, outputs);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].addr, reinterpret_cast<uint64_t>(&word));
  uint32_t seen = 0;
  std::memcpy(&seen, outputs[0].bytes.data(), sizeof seen);
  EXPECT_EQ(seen, word);

  word = 1;  // collected once: a later change is the program's
  outputs.clear();
  watch.collect(mem, outputs);
  EXPECT_TRUE(outputs.empty());
  EXPECT_FALSE(watch.empty());  // `other` still waits for its thread
  watch.owner_gone(9);
  watch.collect(mem, outputs);
  EXPECT_TRUE(outputs.empty());
  EXPECT_TRUE(watch.empty());
}

TEST(SharedMemoryWatch, LeavesOutWhatIsTooLargeToCompare) {
  size_t len = SharedMemoryWatch::kMaxWatched + 4096;
  void* big = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(big, MAP_FAILED);
  TargetMemory mem(::getpid());
  SharedMemoryWatch watch;
  auto maps = read_maps(::getpid());
  ASSERT_TRUE(maps);
  watch.add_shared(*maps, mem);
  EXPECT_EQ(watch.skipped(), 1);
  EXPECT_LE(watch.watched_bytes(), SharedMemoryWatch::kMaxWatched);
  ::munmap(big, len);
}

}  // namespace
}  // namespace rwd
