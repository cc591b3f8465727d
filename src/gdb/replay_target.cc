#include "gdb/replay_target.h"

#include <signal.h>

#include <charconv>
#include <sstream>

#include <fmt/format.h>

namespace rwd {

namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) {
    out.push_back(w);
  }
  return out;
}

std::optional<uint64_t> number(const std::string& s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

constexpr const char* kMonitorHelp =
    "rewind monitor commands (the gdb commands rewind-goto, rewind-info and rewind-last "
    "use them):\n"
    "  goto EVENT|start|end   go to just after event EVENT (numbered as `rewind log` "
    "shows them)\n"
    "  info                   where the replay is: event, thread, recorded time\n"
    "  checkpoints            how many checkpoints the replay keeps\n";

}  // namespace

Result<std::unique_ptr<ReplayTarget>> ReplayTarget::open(const RecordingReader& reader,
                                                        const ReplayImage& image,
                                                        TimelineOptions options) {
  std::unique_ptr<ReplayTarget> t(new ReplayTarget(reader, image));
  auto tl = ReplayTimeline::open(reader, image, ReplayOptions{}, options);
  if (!tl) {
    return std::unexpected(tl.error());
  }
  t->timeline_ = std::move(*tl);
  t->pid_ = static_cast<uint32_t>(image.pid);
  auto threads = t->timeline_->session().threads();
  t->current_ = threads.empty() ? t->pid_ : threads.front();
  return t;
}

StopReason ReplayTarget::initial_stop() {
  StopReason r;
  r.signo = SIGTRAP;
  r.tid = current_thread();
  ReplaySession& s = timeline_->session();
  if (s.at_end() && s.stats().end_signal) {
    r.signo = *s.stats().end_signal;  // gdb shows the crash as it shows a live one
    if (s.real_tid(s.stats().end_tid) != 0) {
      r.tid = s.stats().end_tid;
    }
  }
  current_ = r.tid;
  return r;
}

Status ReplayTarget::start_at(std::optional<uint64_t> event) {
  auto stop = timeline_->seek_event(event.value_or(timeline_->total_events()));
  if (!stop) {
    Error err = stop.error();
    if (auto back = timeline_->seek_event(0); !back) {
      return std::unexpected(back.error());
    }
    current_ = current_thread();
    return std::unexpected(err);
  }
  reason_of(*stop);
  return ok();
}

std::vector<ThreadInfo> ReplayTarget::threads() {
  std::vector<ThreadInfo> out;
  ReplaySession& s = timeline_->session();
  uint32_t running = s.segment_thread();
  for (uint32_t tid : s.threads()) {
    ThreadInfo info;
    info.tid = tid;
    if (s.in_syscall(tid)) {
      info.state = "in a syscall";
    } else if (tid == running) {
      info.state = "runs next";
    } else {
      info.state = "waiting its turn";
    }
    out.push_back(std::move(info));
  }
  return out;
}

uint32_t ReplayTarget::current_thread() {
  ReplaySession& s = timeline_->session();
  if (s.real_tid(current_) == 0) {
    auto threads = s.threads();
    current_ = threads.empty() ? pid_ : threads.front();
  }
  return current_;
}

Result<TargetRegisters> ReplayTarget::registers(uint32_t tid) {
  ReplaySession& s = timeline_->session();
  TargetRegisters r;
  auto gp = s.registers(tid);
  if (!gp) {
    return std::unexpected(gp.error());
  }
  r.gp = *gp;
  if (auto fp = s.fp_registers(tid)) {
    r.fp = *fp;
  }
  return r;
}

Result<std::string> ReplayTarget::read_memory(uint64_t addr, size_t len) {
  return timeline_->session().read_memory(addr, len);
}

Status ReplayTarget::write_memory(uint64_t addr, std::string_view) {
  return fail("memory at {:#x} cannot be changed: a replay re-executes the recording as it "
              "happened (copy values into gdb convenience variables to experiment)",
              addr);
}

Status ReplayTarget::write_registers(uint32_t tid, const TargetRegisters&) {
  return fail("the registers of thread {} cannot be changed: a replay re-executes the "
              "recording as it happened",
              tid);
}

Status ReplayTarget::insert_breakpoint(BreakpointType type, uint64_t addr, size_t len) {
  switch (type) {
    case BreakpointType::kSoftware:
    case BreakpointType::kHardware:
      stops_.breakpoints.insert(addr);
      return ok();
    case BreakpointType::kWriteWatch:
    case BreakpointType::kReadWatch:
    case BreakpointType::kAccessWatch: {
      if (stops_.watchpoints.size() >= 3) {
        return fail("at most three watchpoints at once (replay keeps one debug register)");
      }
      if (len != 1 && len != 2 && len != 4 && len != 8) {
        return fail("watchpoints cover 1, 2, 4 or 8 bytes, not {}", len);
      }
      if (addr % len != 0) {
        return fail("a {}-byte watchpoint must be aligned ({:#x} is not)", len, addr);
      }
      Watchpoint w{addr, static_cast<uint32_t>(len),
                   type == BreakpointType::kWriteWatch ? WatchType::kWrite : WatchType::kAccess};
      stops_.watchpoints.insert(w);
      return ok();
    }
  }
  return ok();
}

Status ReplayTarget::remove_breakpoint(BreakpointType type, uint64_t addr, size_t len) {
  if (type == BreakpointType::kSoftware || type == BreakpointType::kHardware) {
    stops_.breakpoints.erase(addr);
    return ok();
  }
  for (auto it = stops_.watchpoints.begin(); it != stops_.watchpoints.end();) {
    it = it->addr == addr && it->len == len ? stops_.watchpoints.erase(it) : std::next(it);
  }
  return ok();
}

StopReason ReplayTarget::reason_of(const TimelineStop& stop) {
  StopReason r;
  r.tid = stop.tid != 0 ? stop.tid : current_thread();
  switch (stop.kind) {
    case TimelineStopKind::kBreakpoint:
      r.kind = StopKind::kSignal;
      r.signo = SIGTRAP;
      r.software_breakpoint = true;
      break;
    case TimelineStopKind::kWatchpoint: {
      r.kind = StopKind::kSignal;
      r.signo = SIGTRAP;
      r.watch_addr = stop.addr;
      r.watch_kind = WatchKind::kWrite;
      for (const auto& w : stops_.watchpoints) {
        if (w.addr == stop.addr && w.type == WatchType::kAccess) {
          r.watch_kind = WatchKind::kAccess;
        }
      }
      break;
    }
    case TimelineStopKind::kStep:
    case TimelineStopKind::kEvent:
      r.kind = StopKind::kSignal;
      r.signo = SIGTRAP;
      break;
    case TimelineStopKind::kSignal:
      r.kind = StopKind::kSignal;
      r.signo = stop.signo;
      break;
    case TimelineStopKind::kInterrupted:
      r.kind = StopKind::kSignal;
      r.signo = SIGINT;
      break;
    case TimelineStopKind::kHistoryBegin:
      r.kind = StopKind::kHistoryBegin;
      break;
    case TimelineStopKind::kHistoryEnd:
      r.kind = StopKind::kHistoryEnd;
      break;
  }
  if (timeline_->session().real_tid(r.tid) == 0) {
    r.tid = current_thread();
  }
  current_ = r.tid;
  return r;
}

Result<StopReason> ReplayTarget::resume(const ResumeRequest& request,
                                        const std::function<bool()>& interrupted) {
  // Going backwards is a bounded search and is not interrupted; going forwards stops
  // between two events when gdb sends Ctrl-C.
  Result<TimelineStop> stop = fail("no resume");
  if (request.backward) {
    stop = request.step ? timeline_->reverse_step(request.tid, stops_)
                        : timeline_->reverse_continue(stops_);
  } else {
    RunRequest run;
    run.stops = stops_;
    run.report_signals = true;
    run.interrupted = interrupted;
    if (request.step) {
      run.step_tid = request.tid;
    }
    stop = timeline_->resume(run);
  }
  if (!stop) {
    return std::unexpected(stop.error());
  }
  return reason_of(*stop);
}

std::string ReplayTarget::auxv() { return image_.auxv; }

std::string ReplayTarget::exec_file() {
  const auto& m = reader_.manifest();
  if (m.contains("target") && m["target"].is_object()) {
    return m["target"].value("exe", std::string());
  }
  return {};
}

std::string ReplayTarget::info_text() {
  ReplaySession& s = timeline_->session();
  const Position& p = timeline_->position();
  std::string out = fmt::format("position   {} of {} events", p.describe(),
                                timeline_->total_events());
  if (auto e = s.next_event(); e && *e != nullptr) {
    out += fmt::format("\nnext       event {} (thread {}) at {:.6f} s into the recording",
                       s.events_done() + 1, (*e)->tid, static_cast<double>((*e)->time_ns) / 1e9);
  } else {
    out += "\nnext       none: this is the end of the recording";
  }
  out += fmt::format("\nthread {}\ncheckpoints {}\n", current_thread(),
                     timeline_->checkpoints());
  return out;
}

Result<std::string> ReplayTarget::monitor(const std::string& command) {
  auto w = words(command);
  if (w.empty() || w[0] == "help") {
    return std::string(kMonitorHelp);
  }
  if (w[0] == "info") {
    return info_text();
  }
  if (w[0] == "checkpoints") {
    return fmt::format("{} checkpoints\n", timeline_->checkpoints());
  }
  if (w[0] == "goto" && w.size() == 2) {
    uint64_t target = 0;
    if (w[1] == "start") {
      target = 0;
    } else if (w[1] == "end") {
      target = timeline_->total_events();
    } else if (auto n = number(w[1])) {
      target = *n;
    } else {
      return fail("goto takes an event number (as `rewind log` numbers them), start or end, "
                  "not '{}'",
                  w[1]);
    }
    if (target > timeline_->total_events()) {
      return fail("the recording has {} events; there is no event {}",
                  timeline_->total_events(), target);
    }
    auto stop = timeline_->seek_event(target);
    if (!stop) {
      return std::unexpected(stop.error());
    }
    reason_of(*stop);
    return info_text();
  }
  return fail("unknown monitor command '{}' (try: monitor help)", command);
}

}  // namespace rwd
