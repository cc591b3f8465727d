// Snapshots of a stopped process: the memory map, the contents of every private
// writable or anonymous region, and the registers, signal mask and alternate signal
// stack of every thread.
//
// The caller stops every thread first (ptrace) and resumes them after; the snapshot is
// consistent only while they stay stopped. Memory is streamed into the writer region by
// region, so the recorder's memory use stays bounded whatever the target's size.
//
//   auto info = write_snapshot(pid, threads, maps, "initial", writer);
//   fmt::print("{} bytes of memory saved\n", info->memory_bytes);
#pragma once

#include <nlohmann/json.hpp>

#include <utility>
#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_writer.h"
#include "tracee/proc_info.h"

namespace rwd {

struct SnapshotInfo {
  uint64_t memory_bytes = 0;  // bytes of region contents stored
  uint64_t regions = 0;
  std::vector<std::string> warnings;
};

// A thread to snapshot, with the state of it that only the thread itself can read
// (the recorder runs syscalls in it to learn it).
struct SnapshotThread {
  pid_t tid = 0;
  std::optional<stack_t> altstack;  // as sigaltstack(NULL, &ss) returned it
};

// Regions whose contents a snapshot stores: private and writable, or anonymous.
bool snapshot_saves_contents(const MapEntry& m);

// `also_save` are ranges [start, end) the snapshot saves even inside a region whose
// contents it does not (what rewind wrote into the vDSO: its orphan guard).
Result<SnapshotInfo> write_snapshot(
    pid_t pid, const std::vector<SnapshotThread>& threads, const std::vector<MapEntry>& maps,
    const std::string& name, RecordingWriter& writer,
    const nlohmann::json& extra = nlohmann::json::object(),
    const std::vector<std::pair<uint64_t, uint64_t>>& also_save = {});

}  // namespace rwd
