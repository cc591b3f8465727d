// ReplayTarget: the DebugTarget that gdb debugs through `rewind debug` — a recording's
// replay with time travel (replay/replay_timeline.h). Breakpoints and watchpoints gdb
// inserts become the timeline's stop set; reverse packets go backwards; `monitor`
// commands move to any event (rewind-goto and friends in the gdb helpers use them).
// Writes are refused: a recording cannot be changed.
//
//   auto target = ReplayTarget::open(reader, image);
//   GdbServer server(**target);
//   server.serve(fd);
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "format/recording_reader.h"
#include "gdb/debug_target.h"
#include "replay/replay_image.h"
#include "replay/replay_timeline.h"

namespace rwd {

class ReplayTarget : public DebugTarget {
 public:
  static Result<std::unique_ptr<ReplayTarget>> open(const RecordingReader& reader,
                                                    const ReplayImage& image,
                                                    TimelineOptions options = {});

  uint32_t pid() const override { return pid_; }
  StopReason initial_stop() override;
  // Moves to where the session starts: just after `event` events, or (nullopt) the end
  // of the recording — its crash, where debugging usually begins. A replay that
  // diverges on the way stays at the start, and the error says where it diverged.
  Status start_at(std::optional<uint64_t> event);
  std::vector<ThreadInfo> threads() override;
  uint32_t current_thread() override;
  Result<TargetRegisters> registers(uint32_t tid) override;
  Result<std::string> read_memory(uint64_t addr, size_t len) override;
  Status write_memory(uint64_t addr, std::string_view bytes) override;
  Status write_registers(uint32_t tid, const TargetRegisters& regs) override;
  Status insert_breakpoint(BreakpointType type, uint64_t addr, size_t len) override;
  Status remove_breakpoint(BreakpointType type, uint64_t addr, size_t len) override;
  Result<StopReason> resume(const ResumeRequest& request,
                            const std::function<bool()>& interrupted) override;
  std::string auxv() override;
  std::string exec_file() override;
  Result<std::string> monitor(const std::string& command) override;

  ReplayTimeline& timeline() { return *timeline_; }

 private:
  ReplayTarget(const RecordingReader& reader, const ReplayImage& image)
      : reader_(reader), image_(image) {}
  StopReason reason_of(const TimelineStop& stop);
  std::string info_text();

  const RecordingReader& reader_;
  const ReplayImage& image_;
  std::unique_ptr<ReplayTimeline> timeline_;
  StopSet stops_;
  uint32_t pid_ = 0;
  uint32_t current_ = 0;
};

}  // namespace rwd
