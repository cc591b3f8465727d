// ReplayTimeline: time travel over a recording — forward and backward execution built
// on ReplaySession (replay_session.h) by re-execution from checkpoints.
//
// Positions without a branch counter. A position is exact and reproducible:
//   (event, moves)  — `event` events replayed, then `moves` inside the next segment,
//                     each either "step N instructions of the segment's thread" or
//                     "run with stop set S until its Nth stop".
// Execution is deterministic, so replaying the same moves from the same event always
// arrives at the same registers and memory. Going backwards finds the wanted earlier
// position by re-running forward from a checkpoint and noting where the stops were,
// then goes there: reverse-continue scans forward for the last stop before here,
// reverse-step finds the instruction before this one by stepping from the last known
// stop. docs/replay.md describes positions; docs/time-travel.md shows them in use.
//
// Checkpoints: the session at the start is kept, and further ones are taken every
// `checkpoint_interval` events while going forward (forks of the replay process with
// their threads recreated, see ReplaySession::clone), so going back re-executes at most
// one interval. Their number is bounded (`max_checkpoints`): the oldest are thinned out.
//
//   auto tl = ReplayTimeline::open(reader, image, {});
//   auto stop = (*tl)->resume({.stops = {.breakpoints = {0x401136}}});
//   stop = (*tl)->reverse_continue({.breakpoints = {0x401136}});
//   (*tl)->seek_event(120);
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "replay/replay_session.h"

namespace rwd {

struct Move {
  enum class Kind { kStep, kRun };
  Kind kind = Kind::kStep;
  uint32_t tid = 0;  // kStep: the thread stepped
  StopSet stops;     // kRun
  uint64_t count = 1;
  bool operator==(const Move&) const = default;
};

struct Position {
  uint64_t event = 0;
  std::vector<Move> moves;
  bool operator==(const Position&) const = default;
  std::string describe() const;  // "event 120 + 3 steps", for rewind-info
};

enum class TimelineStopKind {
  kBreakpoint,
  kWatchpoint,
  kStep,
  kSignal,        // a recorded signal (report_signals), or the crash at the end
  kInterrupted,   // the request's `interrupted` said so
  kHistoryBegin,  // backwards to the start of the recording
  kHistoryEnd,    // forwards past its end
  kEvent,         // seek_event() arrived
};

struct TimelineStop {
  TimelineStopKind kind = TimelineStopKind::kStep;
  uint32_t tid = 0;
  uint64_t addr = 0;
  int signo = 0;
};

struct TimelineOptions {
  uint64_t checkpoint_interval = 2000;
  size_t max_checkpoints = 64;
};

class ReplayTimeline {
 public:
  static Result<std::unique_ptr<ReplayTimeline>> open(const RecordingReader& reader,
                                                      const ReplayImage& image,
                                                      ReplayOptions replay_options,
                                                      TimelineOptions options = {});

  ReplaySession& session() { return *current_; }
  const Position& position() const { return position_; }
  uint64_t total_events() const { return total_events_; }
  size_t checkpoints() const { return checkpoints_.size(); }

  // Forward: until a stop of the set, one instruction of step_tid (when not 0), or the
  // end of the recording.
  Result<TimelineStop> resume(const RunRequest& request);
  // Backward to the last stop of the set before here, or to the start.
  Result<TimelineStop> reverse_continue(const StopSet& stops);
  // Backward one instruction of `tid`; stops of the set on the way are reported.
  Result<TimelineStop> reverse_step(uint32_t tid, const StopSet& stops);
  // To the point just after `event` events (0: the start; total_events(): the end).
  Result<TimelineStop> seek_event(uint64_t event);
  Status seek(const Position& to);

 private:
  ReplayTimeline(const RecordingReader& reader, const ReplayImage& image, ReplayOptions ro,
                 TimelineOptions options)
      : reader_(reader), image_(image), replay_options_(ro), options_(options) {}

  // A fresh session at (event, no moves), from the nearest checkpoint at or before it.
  Result<std::unique_ptr<ReplaySession>> session_at(uint64_t event);
  // Replays `moves` on a session standing at the start of their segment.
  Status apply_moves(ReplaySession& s, const std::vector<Move>& moves);
  void take_checkpoint_if_due();
  TimelineStop stop_of(const RunResult& r) const;
  void record_forward(const RunRequest& request, const RunResult& r, uint64_t events_before);
  // The last stop of `stops` in [from event, until `end`) on a fresh session; `end`
  // is either a position or (with no moves) the start of an event's segment.
  Result<std::optional<std::pair<Position, RunResult>>> last_stop_between(
      uint64_t from, const Position& end, const StopSet& stops);

  const RecordingReader& reader_;
  const ReplayImage& image_;
  ReplayOptions replay_options_;
  TimelineOptions options_;
  uint64_t total_events_ = 0;
  std::map<uint64_t, std::unique_ptr<ReplaySession>> checkpoints_;
  std::unique_ptr<ReplaySession> current_;
  Position position_;
  bool clone_works_ = true;
};

}  // namespace rwd
