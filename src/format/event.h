// Event: one entry of a recording's event log, and its binary encoding.
//
// The log holds, in the order the recorder observed them, every syscall of every thread
// (arguments, result, the input strings it read and the exact bytes the kernel wrote),
// signals, thread starts and exits, exec and process exit. Encoding is little-endian and
// self-delimiting; decoding treats every byte as hostile and fails cleanly.
//
//   Event e = Event::syscall(tid, t, SYS_read, args, 5);
//   e.outputs.push_back({buf_addr, "hello"});
//   std::string bytes; encode_event(e, bytes);
//   ByteReader r(bytes); auto back = decode_event(r);
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace rwd {

enum class EventType : uint8_t {
  kSyscall = 1,      // a completed (or, at stop, pending) syscall
  kSignal = 2,       // a signal delivered to a thread (fatal or handled)
  kThreadStart = 3,  // `value` = new thread's tid, recorded on the parent
  kThreadExit = 4,   // `value` = the thread's wait status (exit(2) is 0x200)
  kExec = 5,         // `text` = new executable path
  kProcessExit = 6,  // `value` = exit status (or 128+signal)
  // Format version 2: what deterministic replay needs.
  kSyscallEntry = 7,  // the thread entered `sysno(args)` and gave up the CPU while in the
                      // kernel; its completion follows later as a kSyscall event
  kPoint = 8,         // the thread was stopped in user space at `regs` (preempted, or
                      // about to receive the async signal of the next event)
  kRdtsc = 9,         // the thread executed rdtsc/rdtscp at `value` (rip): `tsc`, `tsc_aux`
  // In-process rdtsc (tracee/rdtsc_patch.h).
  kRdtscPatch = 10,   // the rdtsc at `value` now jumps into a stub page: `outputs` are the
                      // page's first bytes (at its address) and the bytes at the rdtsc
  kRdtscValues = 11,  // the values the stub whose page is at `value` handed out since the
                      // last such event: `outputs[0]`, at the page's ring
  kCpuid = 12,        // the thread executed cpuid at `value` (rip): leaf and subleaf in
                      // args[0..1], eax ebx ecx edx as answered in args[2..5]
  // In-process clock reads (tracee/clock_stubs.h).
  kClockPatch = 13,   // the vDSO clock functions now jump into stubs in the page at
                      // `value`: `outputs` are the page's first bytes, then each
                      // function's new first bytes
  kClockValues = 14,  // the values (nanoseconds) the clock stubs in the page at `value`
                      // handed out since the last such event: `outputs[0]`, at the ring
};

// Why a thread was stopped at a kPoint.
enum class PointReason : uint8_t {
  kPreempt = 1,           // ran too long in user space while other threads waited
  kSignal = 2,            // an async signal arrives here (the next event)
  kPreemptAtSyscall = 3,  // preempted just before a syscall instruction; rcx and r11
                          // are dead there and not compared
};

std::string_view event_type_name(EventType t);

// Bytes at an address in the target: what a syscall read (inputs) or the kernel wrote
// (outputs).
struct MemoryBytes {
  uint64_t addr = 0;
  std::string bytes;
  bool operator==(const MemoryBytes&) const = default;
};

struct Event {
  EventType type = EventType::kSyscall;
  uint32_t tid = 0;
  uint64_t time_ns = 0;  // since the recording started

  // kSyscall
  int64_t sysno = 0;
  std::array<uint64_t, 6> args{};
  int64_t result = 0;          // raw return value (-errno on failure)
  bool completed = true;       // false: still in the kernel when the recording stopped
  std::vector<MemoryBytes> inputs;
  std::vector<MemoryBytes> outputs;

  // kSignal
  int32_t signo = 0;
  int32_t signal_code = 0;
  uint64_t fault_addr = 0;
  bool fatal = false;

  // kThreadStart / kThreadExit / kProcessExit
  int64_t value = 0;
  // kExec
  std::string text;

  // kPoint: the raw user_regs_struct, a hash of the top of the stack, and for a signal
  // point the raw siginfo_t to deliver.
  PointReason reason = PointReason::kPreempt;
  std::string regs;
  uint64_t stack_hash = 0;
  std::string siginfo;
  // kRdtsc
  uint64_t tsc = 0;
  uint32_t tsc_aux = 0;
  bool rdtscp = false;

  bool operator==(const Event&) const = default;
};

// Bounds-checked little-endian cursor over untrusted bytes.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  bool empty() const { return pos_ >= data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  Result<uint8_t> u8();
  Result<uint32_t> u32();
  Result<uint64_t> u64();
  Result<std::string_view> bytes(size_t n);

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

void put_u8(std::string& out, uint8_t v);
void put_u32(std::string& out, uint32_t v);
void put_u64(std::string& out, uint64_t v);

// Largest register or siginfo blob stored in a kPoint event.
inline constexpr uint32_t kMaxPointBlob = 4096;

// Largest single memory capture stored for one syscall argument.
inline constexpr uint64_t kMaxEventBytes = 64ull << 20;

void encode_event(const Event& e, std::string& out);
Result<Event> decode_event(ByteReader& in);

}  // namespace rwd
