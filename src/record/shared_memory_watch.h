// SharedMemoryWatch: what other processes write into the target's shared mappings.
//
// A child process keeps the writable MAP_SHARED mappings of its parent (an anonymous
// shared page, a file or /dev/shm segment mapped shared), and whatever it writes there
// shows up in the target without any syscall of the target's. Replay runs no child, so
// rewind records those bytes itself: when the target is about to create a process, the
// watch takes a copy of each such mapping; after every syscall, the pages that differ
// from the copy become outputs of that syscall (the target's own writes among them,
// which replay then writes again with the same bytes), and the copy is brought up to
// date. A program that waits for its child (wait4, a futex, a pipe) before it looks at
// what the child wrote replays the same; one that polls the memory without any syscall
// can still see the child's write earlier in the recording than in replay.
//
//   SharedMemoryWatch watch;
//   watch.add_shared(maps, mem);         // at the entry of fork/clone (not a thread)
//   watch.collect(mem, e.outputs);       // at every syscall exit
//   watch.keep_mapped(maps);             // after the target changed its mappings
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "format/event.h"
#include "tracee/proc_info.h"
#include "tracee/target_memory.h"

namespace rwd {

class SharedMemoryWatch {
 public:
  // The most bytes watched: beyond it, a mapping is left out (too costly to compare after
  // every syscall) and `skipped()` counts it.
  static constexpr uint64_t kMaxWatched = 16ull << 20;

  // Starts watching the writable shared mappings in `maps` not watched yet.
  void add_shared(const std::vector<MapEntry>& maps, TargetMemory& mem);
  // Appends the pages that changed since the last look to `outputs` (whole pages, at
  // most one entry per run of changed pages) and remembers them.
  void collect(TargetMemory& mem, std::vector<MemoryBytes>& outputs);
  // Forgets what is no longer a writable shared mapping in `maps` (unmapped, remapped).
  void keep_mapped(const std::vector<MapEntry>& maps);
  // Watches `len` bytes at `addr` that the kernel is about to write on behalf of thread
  // `owner` (a robust futex of that exiting thread): a change is collected once, and the
  // bytes are forgotten then, or at the first collect() after owner_gone(owner).
  void watch_word(TargetMemory& mem, uint64_t addr, size_t len, pid_t owner);
  void owner_gone(pid_t owner);

  bool empty() const { return regions_.empty() && words_.empty(); }
  uint64_t watched_bytes() const;
  int skipped() const { return skipped_; }

 private:
  struct Word {
    MemoryBytes before;
    pid_t owner = 0;
    bool owner_gone = false;
  };
  std::vector<MemoryBytes> regions_;
  std::vector<Word> words_;
  int skipped_ = 0;
};

}  // namespace rwd
