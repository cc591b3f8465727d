// ClockStubs: the vDSO clock functions answered inside the target, without a ptrace stop.
//
// rewind turns the vDSO's time functions into syscalls (tracee/vdso_patch.h), so each
// clock read costs a syscall's two ptrace stops; a Go or Node service reads the clock
// for most of what it does. Once the process has made such a call, the recorder maps a
// page of its own near the vDSO and points clock_gettime, gettimeofday and time at
// stubs there: the plain stub's `mov $NR, %eax` (5 bytes) becomes a `jmp` into the page,
// and its `syscall; ret` stays behind as the way out.
//
// A stub hands out, per clock, the time the recorder last wrote into the page's `now`
// table (ClockTableFeed: at the stops of the thread that holds the CPU, and every
// millisecond while the program runs on without stopping), or one nanosecond more than
// the last
// value it gave for that clock when that is larger (the same value for the coarse
// clocks, which move only at the kernel's tick): the values never go back, and they are
// at most a millisecond old. time() reads CLOCK_REALTIME_COARSE, as the vDSO's does. Each value (nanoseconds) goes into a ring
// laid out as the rdtsc stubs' (tracee/rdtsc_patch.h), which the recorder empties at the
// same stops and logs as a `clock-values` event; replay writes them back and the stub,
// in replay mode, hands out the same values. Clocks the table lacks (the CPU-time
// clocks, a clock id above 7), a gettimeofday with a timezone, a full ring and a stub
// turned off (`limit` 0) take the way out: the real syscall, recorded as before.
//
// A stub changes rax, rcx, rdx and the flags (each saved first) and only its own page
// before its single committing store; after it, it writes the caller's memory (the
// timespec, timeval or time_t), puts rcx, rdx and the flags back and returns the result
// in rax. A thread stopped in the page is settled (settle()) before rewind logs where it
// is: before the commit it goes back to the vDSO function's entry with its registers as
// they were there, after it to the caller, with the rest of the stub's work done for it.
//
// Harmless when rewind is gone: the ring fills, then every call takes the real syscall.
// Detach and a child let go get `limit` 0 and the plain stubs back.
//
//   auto stubs = ClockStubs::build(vdso_patches, page);
//   ... map stubs->page_image() at page, write each site's bytes ...
//   feed.start(pid, stubs->header());   ... feed.write_stopped() at stops; drain the ring.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/error.h"
#include "format/event.h"
#include "tracee/rdtsc_patch.h"
#include "tracee/vdso_patch.h"

namespace rwd {

class ClockStubs {
 public:
  // The rdtsc stubs' page layout: code, then the header, then the ring of values.
  static constexpr uint64_t kSpan = RdtscPatch::kSpan;
  static constexpr uint64_t kHeader = RdtscPatch::kHeader;
  static constexpr uint64_t kRing = RdtscPatch::kRing;
  static constexpr uint64_t kSlots = RdtscPatch::kSlots;
  static constexpr int kClocks = 8;  // clock ids 0..7; 2 and 3 (CPU time) are not kept
  // Header words, by offset from kHeader.
  static constexpr uint64_t kNext = RdtscPatch::kNext;
  static constexpr uint64_t kLimit = RdtscPatch::kLimit;
  static constexpr uint64_t kMode = RdtscPatch::kMode;
  static constexpr uint64_t kSavedRax = 0x18;
  static constexpr uint64_t kSavedRcx = 0x20;
  static constexpr uint64_t kSavedRdx = 0x28;
  static constexpr uint64_t kFlags = 0x30;
  static constexpr uint64_t kValue = 0x38;   // this call's value, in nanoseconds
  static constexpr uint64_t kResult = 0x40;  // this call's return value
  static constexpr uint64_t kSeconds = 0x48; // its seconds
  static constexpr uint64_t kRest = 0x50;    // and nanoseconds (microseconds: gettimeofday)
  static constexpr uint64_t kSeen = 0x58;    // the sequence number this call read first
  static constexpr uint64_t kSeq = 0x60;     // the table's sequence number: odd while written
  static constexpr uint64_t kNow = 0x68;     // kClocks words: the recorder's time
  static constexpr uint64_t kLast = kNow + 8 * kClocks;  // the last value per clock
  static constexpr uint64_t kHeaderSize = kLast + 8 * kClocks;

  struct Site {
    uint64_t addr = 0;      // the vDSO function
    std::string bytes;      // its new first bytes: jmp into the page
    std::string plain;      // the plain stub's bytes they replace
  };

  // Stubs for the plain (ClockStub::kSyscall) vDSO patches of clock_gettime,
  // gettimeofday and time, in a page at `page`. Fails when there is none, or a patch is
  // not a plain one.
  static Result<ClockStubs> build(const std::vector<CodePatch>& patches, uint64_t page);

  // The recorder's clocks now, as the `now` table holds them.
  static std::array<uint64_t, kClocks> now();

  uint64_t page() const { return page_; }
  uint64_t header() const { return page_ + kHeader; }
  uint64_t ring() const { return page_ + kRing; }
  bool contains(uint64_t rip) const { return rip >= page_ && rip < page_ + kSpan; }
  const std::string& page_image() const { return image_; }
  const std::vector<Site>& sites() const { return sites_; }

  // Moves a thread stopped in the page to the vDSO function's entry or to its caller
  // (see above). `header` holds the header words as read from the target, `return_to`
  // the word at the thread's rsp; what the stub had yet to write into the caller's
  // memory goes to `writes`. Returns whether `regs` changed.
  bool settle(user_regs_struct& regs, std::string_view header, uint64_t return_to,
              std::vector<MemoryBytes>* writes) const;

 private:
  ClockStubs() = default;

  struct Stub {
    uint64_t site = 0;        // the vDSO function it stands for
    int sysno = 0;
    uint64_t entry = 0;
    uint64_t after_rax = 0;   // after each save
    uint64_t after_rcx = 0;
    uint64_t after_rdx = 0;
    uint64_t after_flags = 0;
    uint64_t commit = 0;      // the committing store
    uint64_t end = 0;         // past its `ret`
    uint64_t fallback = 0;    // the way out, to its end
  };

  uint64_t page_ = 0;
  std::string image_;
  std::vector<Site> sites_;
  std::vector<Stub> stubs_;
};

// Writes the recorder's clocks into a target's clock-stub table: at the recorder's stops
// (write_stopped(): no thread of the target runs user code then, so one write of the
// sequence number and the table), and every millisecond from a thread of its own while
// the target runs (a seqlock update: sequence odd, the table, sequence even, three
// separate writes), so that a stub never takes a half-written value. stop() before the
// page may no longer be the stubs' (the target's exec, detach).
class ClockTableFeed {
 public:
  ClockTableFeed() = default;
  ~ClockTableFeed() { stop(); }
  ClockTableFeed(const ClockTableFeed&) = delete;
  ClockTableFeed& operator=(const ClockTableFeed&) = delete;

  void start(pid_t pid, uint64_t header);
  void write_stopped();
  void stop();

 private:
  void write_running();

  std::mutex mutex_;
  std::condition_variable wake_;
  pid_t pid_ = 0;
  uint64_t header_ = 0;  // 0: stopped
  uint64_t seq_ = 0;
  std::chrono::steady_clock::time_point last_{};
  std::thread ticker_;
};

}  // namespace rwd
