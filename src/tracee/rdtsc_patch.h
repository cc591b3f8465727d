// RdtscPatch: an rdtsc (or rdtscp) answered inside the target, without a ptrace stop.
//
// rewind traps rdtsc (PR_SET_TSC), and a trapped rdtsc costs a ptrace stop (~25 us
// here): a loop of millions of them takes minutes to record. When an rdtsc at some
// address has trapped, the recorder may replace it, with the instructions after it, by
// a 5-byte `jmp` into a page of rewind's own (mapped within rel32 reach). There the
// stub makes up the value and keeps it in a ring of values, then runs the displaced
// instructions and jumps back. The values are what the program would see from a clock
// that ticks at the kernel's timekeeping pace: the TSC at the kernel's last clock update
// (`cycle_last`, in the vvar page), or one more than the last value handed out in the
// process when that is larger, so they never go back. A spin loop waiting for the TSC
// to move on therefore still ends on time.
//
// The recorder empties each ring at every stop of the thread that holds the CPU (one
// thread runs user code at a time) and logs the values as an `rdtsc-values` event before
// that stop's events; replay writes them into the same ring before the thread runs
// there, and the same stub, in replay mode, hands them out in the same order. When a
// ring is full (or the stub is turned off: `limit` 0), the stub ends in a real rdtsc,
// which traps and is recorded and replayed as any other.
//
// The page (kSpan bytes): code at 0, the header at kHeader, the ring at kRing.
// The stub saves rax, rdx and the flags in the header, claims slot `next` and commits
// by storing next + 1 (one instruction). A thread stopped inside the stub is settled
// (settle()) before the recorder logs where it is: before the commit it goes back to
// the rdtsc's address with its registers as they were there (the stub runs again from
// the start, so nothing is claimed twice), after it to the end of the stub with the
// stub's results. Replay reaches such a point where the program's own code goes.
//
// Harmless when rewind is gone: the ring fills, then every call ends in the real rdtsc
// (the orphan guard untraps rdtsc at the first one). A child process let go gets
// `limit` 0 (set_limit), and detach puts the original bytes back; the page stays.
//
//   auto patch = RdtscPatch::build(code_around, code_start, site, page, clock, last);
//   ... map patch->page_image() at page, write patch->site_bytes() at site ...
//   patch->settle(regs, header);   // a thread stopped in the page, before logging it
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace rwd {

class RdtscPatch {
 public:
  static constexpr uint64_t kSpan = 4 * 4096;
  static constexpr uint64_t kHeader = 0xc00;
  static constexpr uint64_t kRing = 0x1000;
  static constexpr uint64_t kSlots = (kSpan - kRing) / 8;
  // Header words, by offset from kHeader.
  static constexpr uint64_t kNext = 0x00;      // slots used
  static constexpr uint64_t kLimit = 0x08;     // slots that may be used (0: off)
  static constexpr uint64_t kMode = 0x10;      // 0 record, 1 replay
  static constexpr uint64_t kClock = 0x18;     // address of the kernel's cycle_last
  static constexpr uint64_t kLast = 0x20;      // address of the process's last value
  static constexpr uint64_t kValue = 0x28;     // this call's value
  static constexpr uint64_t kFlags = 0x30;     // lahf/seto image of the flags
  static constexpr uint64_t kSavedRax = 0x38;
  static constexpr uint64_t kSavedRdx = 0x40;
  static constexpr uint64_t kLastValue = 0x48;  // the process's last value, if kLast is here
  static constexpr uint64_t kAux = 0x50;        // rdtscp's ecx (TSC_AUX), as first recorded
  static constexpr uint64_t kHeaderSize = 0x58;

  // Builds the stub for the rdtsc or rdtscp at `site` in a page at `page`. `code` holds
  // the target's code from `code_start`, covering site - kScanWindow .. site +
  // kScanWindow within its mapping. `clock` is the address of cycle_last in the target,
  // `last` that of the word holding the process's last value (0: this page's own
  // kLastValue); an rdtscp's stub always gives `aux` in ecx (one CPU, as if pinned).
  // Fails with the reason when the instructions after it cannot be moved.
  static Result<RdtscPatch> build(std::string_view code, uint64_t code_start, uint64_t site,
                                  uint64_t page, uint64_t clock, uint64_t last,
                                  uint32_t aux = 0);

  uint64_t site() const { return site_; }
  uint64_t page() const { return page_; }
  uint64_t header() const { return page_ + kHeader; }
  uint64_t ring() const { return page_ + kRing; }
  // The page's first bytes (code and header; the ring starts empty) and the bytes that
  // replace the rdtsc and the instructions after it.
  const std::string& page_image() const { return image_; }
  const std::string& site_bytes() const { return patched_; }
  const std::string& original_bytes() const { return original_; }
  bool contains(uint64_t rip) const { return rip >= page_ && rip < page_ + kSpan; }
  bool rdtscp() const { return rdtscp_; }
  // The address of the stub's own rdtsc or rdtscp (where a full ring ends), which traps.
  uint64_t fallback_rdtsc() const { return fallback_rdtsc_; }
  // The stub's committing store, and where the displaced instructions' copies start.
  uint64_t commit_store() const { return commit_; }
  uint64_t stub_exit() const { return exit_; }

  // Moves a thread stopped in the stub to where its state is one the program's code
  // also has (see above); `header` holds the page's header words as read from the
  // target. Returns whether `regs` changed. A thread on the displaced instructions'
  // copies is left there.
  bool settle(user_regs_struct& regs, std::string_view header) const;
  // A thread stopped between the rdtsc and the end of the displaced instructions (it
  // was at the rdtsc when the patch went in) goes on from their copy. Returns whether
  // `regs` changed.
  bool relocate(user_regs_struct& regs) const;

 private:
  RdtscPatch() = default;

  uint64_t site_ = 0;
  uint64_t page_ = 0;
  bool rdtscp_ = false;
  uint32_t aux_ = 0;
  std::string image_;
  std::string patched_;
  std::string original_;
  // Stub addresses (see the .cc): after each save, the commit, the end of the stub.
  uint64_t after_rax_save_ = 0;
  uint64_t after_rdx_save_ = 0;
  uint64_t after_flags_save_ = 0;
  uint64_t commit_ = 0;
  uint64_t exit_ = 0;
  uint64_t fallback_ = 0;
  uint64_t fallback_rdtsc_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> copies_;  // copy start -> original address
};

// The offset of the kernel's cycle_last (the TSC at its last clock update) in the vvar
// mapping, found by watching rewind's own: a word a little behind rdtsc that follows
// it. 0 when none is found (the clock is not the TSC, say).
uint64_t find_cycle_last_offset();

}  // namespace rwd
