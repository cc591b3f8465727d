// TestDebugTarget: a tiny, fully scripted DebugTarget for the protocol tests. It stands
// in for the replay so the tests pin what the server puts on the wire (and what gdb
// makes of it), not how a recording is replayed; the replay has its own tests.
//
// The "program" is 16 bytes of code at kCodeStart; a thread's rip is kCodeStart plus a
// position that steps move by one, forwards or backwards, within the code. Continuing
// runs to the next (or previous) Z0 breakpoint, or to the end (start) of history.
//
//   TestDebugTarget target;
//   GdbServer server(target);
//   server.serve(fd);
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "gdb/debug_target.h"

namespace rwd::testing {

class TestDebugTarget : public DebugTarget {
 public:
  static constexpr uint64_t kCodeStart = 0x401000;
  static constexpr uint32_t kPid = 4242;
  static constexpr uint32_t kMainTid = 4242;
  static constexpr uint32_t kWorkerTid = 4243;
  // push rbp; mov rbp,rsp; nop... ; ret
  static constexpr unsigned char kCode[16] = {0x55, 0x48, 0x89, 0xe5, 0x90, 0x90, 0x90, 0x90,
                                              0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x5d, 0xc3};

  uint32_t pid() const override { return kPid; }

  std::vector<ThreadInfo> threads() override {
    return {{kMainTid, "main", "in main loop"}, {kWorkerTid, "worker <1>", "blocked in futex"}};
  }

  uint32_t current_thread() override { return current_; }

  Result<TargetRegisters> registers(uint32_t tid) override {
    if (tid != kMainTid && tid != kWorkerTid) {
      return fail("no thread {}", tid);
    }
    TargetRegisters r;
    r.gp.rax = 0x1111111111111111;
    r.gp.rbx = 0x2222222222222222;
    r.gp.rcx = tid;
    r.gp.rbp = 0x7ffe0010;
    r.gp.rsp = 0x7ffe0000;
    r.gp.r15 = 0xf15;
    r.gp.rip = kCodeStart + position_;
    r.gp.eflags = 0x246;  // PF ZF IF
    r.gp.cs = 0x33;
    r.gp.ss = 0x2b;
    r.gp.fs_base = 0x7f0000001000;
    r.gp.gs_base = 0;
    r.gp.orig_rax = ~0ull;  // not in a syscall
    r.fp.cwd = 0x37f;
    r.fp.swd = 0x3800;  // top = 7: one value pushed, st(0) is physical register 7
    r.fp.ftw = 0x80;
    // st(0) = 1.0: mantissa with the integer bit, biased exponent 0x3fff.
    uint64_t mantissa = 1ull << 63;
    uint16_t exponent = 0x3fff;
    std::memcpy(reinterpret_cast<char*>(r.fp.st_space), &mantissa, 8);
    std::memcpy(reinterpret_cast<char*>(r.fp.st_space) + 8, &exponent, 2);
    for (int i = 0; i < 16; ++i) {
      reinterpret_cast<unsigned char*>(r.fp.xmm_space)[i] = static_cast<unsigned char>(i);
    }
    r.fp.mxcsr = 0x1f80;
    return r;
  }

  Result<std::string> read_memory(uint64_t addr, size_t len) override {
    if (addr < kCodeStart || addr >= kCodeStart + sizeof kCode) {
      return std::string();
    }
    size_t offset = addr - kCodeStart;
    size_t n = std::min(len, sizeof kCode - offset);
    return std::string(reinterpret_cast<const char*>(kCode) + offset, n);
  }

  Status write_memory(uint64_t, std::string_view) override {
    return fail("a recording cannot be changed");
  }
  Status write_registers(uint32_t, const TargetRegisters&) override {
    return fail("a recording cannot be changed");
  }

  Status insert_breakpoint(BreakpointType type, uint64_t addr, size_t) override {
    if (type != BreakpointType::kSoftware) {
      return fail("only software breakpoints in this test");
    }
    breakpoints_.insert(addr);
    return ok();
  }
  Status remove_breakpoint(BreakpointType, uint64_t addr, size_t) override {
    breakpoints_.erase(addr);
    return ok();
  }

  Result<StopReason> resume(const ResumeRequest& request,
                            const std::function<bool()>& interrupted) override {
    requests.push_back(request);
    if (next_stop) {
      StopReason s = *next_stop;
      next_stop.reset();
      return s;
    }
    if (run_until_interrupted) {
      // Runs "forever", as a long replay would, until gdb's Ctrl-C arrives.
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      running = true;
      while (!interrupted()) {
        if (std::chrono::steady_clock::now() > deadline) {
          return fail("never interrupted");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      running = false;
      return stop(StopKind::kSignal, SIGINT);
    }
    current_ = request.tid != 0 ? request.tid : current_;
    int dir = request.backward ? -1 : 1;
    for (;;) {
      if ((dir < 0 && position_ == 0) || (dir > 0 && position_ + 1 == sizeof kCode)) {
        return stop(dir < 0 ? StopKind::kHistoryBegin : StopKind::kHistoryEnd, 0);
      }
      position_ += dir;
      if (request.step) {
        return stop(StopKind::kSignal, SIGTRAP);
      }
      if (breakpoints_.contains(kCodeStart + position_)) {
        StopReason s = stop(StopKind::kSignal, SIGTRAP);
        s.software_breakpoint = true;
        return s;
      }
    }
  }

  std::string auxv() override {
    // AT_PAGESZ, AT_UID (0x23 is '#', which must arrive escaped), AT_ENTRY, AT_NULL.
    uint64_t v[] = {6, 4096, 11, 0x23, 9, kCodeStart, 0, 0};
    return std::string(reinterpret_cast<const char*>(v), sizeof v);
  }
  std::string exec_file() override { return exec_path; }

  Result<std::string> monitor(const std::string& command) override {
    if (command == "hello") {
      return std::string("hello from the test target\n");
    }
    return fail("unknown monitor command '{}' (try 'monitor hello')", command);
  }

  std::vector<ResumeRequest> requests;
  std::optional<StopReason> next_stop;
  bool run_until_interrupted = false;
  std::atomic<bool> running = false;  // inside a resume that waits for the interrupt
  std::string exec_path;

 private:
  StopReason stop(StopKind kind, int signo) {
    StopReason s;
    s.kind = kind;
    s.signo = signo;
    s.tid = current_;
    return s;
  }

  uint32_t current_ = kMainTid;
  size_t position_ = 0;
  std::set<uint64_t> breakpoints_;
};

}  // namespace rwd::testing
