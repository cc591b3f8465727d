// ReplayImage: what replay needs from a recording, read once: the initial snapshot (or the
// snapshot of a program started by exec during the recording)
// (memory map, registers, signal actions), the saved memory, the bundled files and the
// final state (ELF core) that --verify compares against.
//
//   auto image = ReplayImage::load(reader);
//   for (const auto& r : image->regions) ...
#pragma once

#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_reader.h"
#include "tracee/orphan_guard.h"

namespace rwd {

struct ReplayRegion {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string perms;  // "rw-p"
  uint64_t offset = 0;
  std::string path;
  bool saved = false;  // contents are in memory blobs (pages absent from them are zero)
};

struct ReplayThreadState {
  pid_t tid = 0;
  user_regs_struct regs{};
  std::string fpregs;  // user_fpregs_struct
  std::string xstate;  // NT_X86_XSTATE
  uint64_t sigmask = 0;
  std::optional<stack_t> altstack;  // nullopt: not in the recording
};

struct SignalAction {
  int signal = 0;
  uint64_t handler = 0, flags = 0, restorer = 0, mask = 0;
};

struct FinalThread {
  pid_t tid = 0;
  user_regs_struct regs{};
};

struct FinalSegment {
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;
  uint64_t size = 0;
  bool writable = false;
};

struct FinalState {
  std::string core;  // the ELF core bytes
  std::vector<FinalThread> threads;
  std::vector<FinalSegment> segments;
};

struct ReplayImage {
  std::string snapshot = "initial";  // its name: "initial", or "exec-N" after the N-th exec
  pid_t pid = 0;
  std::vector<ReplayRegion> regions;
  std::vector<ReplayThreadState> threads;  // the thread-group leader first
  std::vector<SignalAction> signal_actions;
  bool vdso_patched = false;
  // cpuid faulted in the recording and its answers are in the log (kCpuid events).
  bool cpuid_trapped = false;
  // The patched clock functions start with a trapped rdtsc (tracee/vdso_patch.h).
  bool vdso_trapped_stub = false;
  // rewind's orphan guard in the target (tracee/orphan_guard.h), when it had one.
  uint64_t orphan_guard = 0;
  uint64_t orphan_guard_size = 0;
  OrphanGuard::Layout orphan_guard_layout;  // where its parts are
  std::string auxv;  // the auxiliary vector at the start (for debuggers)
  std::optional<FinalState> final_state;

  // The image of snapshot `name` ("exec-N": the program the N-th exec started), with the
  // recording's final state.
  static Result<ReplayImage> load(const RecordingReader& reader,
                                  const std::string& name = "initial");
};

// Parses an x86-64 ELF core: NT_PRSTATUS registers per thread and the PT_LOAD segments.
Result<FinalState> parse_final_core(std::string core);

}  // namespace rwd
