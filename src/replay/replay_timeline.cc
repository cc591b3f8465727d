#include "replay/replay_timeline.h"

#include <fmt/format.h>

#include <algorithm>

namespace rwd {

namespace {

bool in_stops(const StopSet& set, const RunResult& r) {
  if (r.stop == RunStop::kWatchpoint) {
    return std::any_of(set.watchpoints.begin(), set.watchpoints.end(),
                       [&](const Watchpoint& w) { return w.addr == r.addr; });
  }
  if (r.stop == RunStop::kBreakpoint || r.stop == RunStop::kStep) {
    return set.breakpoints.count(r.addr) != 0;
  }
  return false;
}

bool in_segment(const RunResult& r) {
  return (r.stop == RunStop::kBreakpoint || r.stop == RunStop::kWatchpoint ||
          r.stop == RunStop::kStep) &&
         !r.between_events;
}

StopSet merged(const StopSet& a, const StopSet& b) {
  StopSet m = a;
  m.breakpoints.insert(b.breakpoints.begin(), b.breakpoints.end());
  m.watchpoints.insert(b.watchpoints.begin(), b.watchpoints.end());
  return m;
}

void push_move(std::vector<Move>& moves, Move m) {
  if (!moves.empty()) {
    Move& last = moves.back();
    if (last.kind == m.kind && last.tid == m.tid && last.stops == m.stops) {
      last.count += m.count;
      return;
    }
  }
  moves.push_back(std::move(m));
}

TimelineStop stop_from_hit(const RunResult& r) {
  TimelineStop s;
  s.tid = r.tid;
  s.addr = r.addr;
  s.kind = r.stop == RunStop::kWatchpoint ? TimelineStopKind::kWatchpoint
                                          : TimelineStopKind::kBreakpoint;
  return s;
}

}  // namespace

std::string Position::describe() const {
  std::string out = fmt::format("event {}", event);
  for (const auto& m : moves) {
    if (m.kind == Move::Kind::kStep) {
      out += fmt::format(" + {} step{} of thread {}", m.count, m.count == 1 ? "" : "s", m.tid);
    } else {
      out += fmt::format(" + {} stop{}", m.count, m.count == 1 ? "" : "s");
    }
  }
  return out;
}

Result<std::unique_ptr<ReplayTimeline>> ReplayTimeline::open(const RecordingReader& reader,
                                                            const ReplayImage& image,
                                                            ReplayOptions replay_options,
                                                            TimelineOptions options) {
  std::unique_ptr<ReplayTimeline> tl(new ReplayTimeline(reader, image, replay_options, options));
  EventCursor counter(reader);
  auto total = counter.total();
  if (!total) {
    return std::unexpected(total.error());
  }
  tl->total_events_ = *total;
  auto first = ReplaySession::start(reader, image, replay_options);
  if (!first) {
    return std::unexpected(first.error());
  }
  auto current = (*first)->clone();
  if (!current) {
    // Without clones every step back re-executes from the start.
    tl->clone_works_ = false;
    tl->current_ = std::move(*first);
  } else {
    tl->checkpoints_[0] = std::move(*first);
    tl->current_ = std::move(*current);
  }
  return tl;
}

Result<std::unique_ptr<ReplaySession>> ReplayTimeline::session_at(uint64_t event) {
  std::unique_ptr<ReplaySession> s;
  if (clone_works_ && !checkpoints_.empty()) {
    auto it = checkpoints_.upper_bound(event);
    --it;
    auto c = it->second->clone();
    if (c) {
      s = std::move(*c);
    } else {
      clone_works_ = false;
    }
  }
  if (!s) {
    auto fresh = ReplaySession::start(reader_, image_, replay_options_);
    if (!fresh) {
      return std::unexpected(fresh.error());
    }
    s = std::move(*fresh);
  }
  // Forward to the event, leaving checkpoints behind at every interval.
  while (s->events_done() < event) {
    uint64_t next = std::min(event, (s->events_done() / options_.checkpoint_interval + 1) *
                                        options_.checkpoint_interval);
    auto r = s->run(RunRequest{.until_event = next});
    if (!r) {
      return std::unexpected(r.error());
    }
    if (r->stop == RunStop::kEnd) {
      break;
    }
    if (clone_works_ && next % options_.checkpoint_interval == 0 && !checkpoints_.count(next)) {
      auto c = s->clone();
      if (c) {
        checkpoints_[next] = std::move(*c);
        if (checkpoints_.size() > options_.max_checkpoints) {
          // Thin out: drop every second checkpoint after the first.
          bool drop = false;
          for (auto it = std::next(checkpoints_.begin()); it != checkpoints_.end();) {
            it = drop ? checkpoints_.erase(it) : std::next(it);
            drop = !drop;
          }
        }
      }
    }
  }
  return s;
}

Status ReplayTimeline::apply_moves(ReplaySession& s, const std::vector<Move>& moves) {
  uint64_t event = s.events_done();
  for (const auto& m : moves) {
    for (uint64_t i = 0; i < m.count; ++i) {
      RunRequest req;
      if (m.kind == Move::Kind::kStep) {
        req.step_tid = m.tid;
      } else {
        req.stops = m.stops;
      }
      auto r = s.run(req);
      if (!r) {
        return std::unexpected(r.error());
      }
      if (!in_segment(*r) || s.events_done() != event) {
        return fail("the replay did not arrive at the same position again (event {}): the "
                    "recording may use something replay does not reproduce",
                    event);
      }
    }
  }
  return ok();
}

Status ReplayTimeline::seek(const Position& to) {
  auto s = session_at(to.event);
  if (!s) {
    return std::unexpected(s.error());
  }
  if (auto a = apply_moves(**s, to.moves); !a) {
    return a;
  }
  current_ = std::move(*s);
  position_ = {current_->events_done(), to.moves};
  return ok();
}

TimelineStop ReplayTimeline::stop_of(const RunResult& r) const {
  TimelineStop s;
  s.tid = r.tid;
  s.addr = r.addr;
  switch (r.stop) {
    case RunStop::kBreakpoint:
      s.kind = TimelineStopKind::kBreakpoint;
      break;
    case RunStop::kWatchpoint:
      s.kind = TimelineStopKind::kWatchpoint;
      break;
    case RunStop::kStep:
      s.kind = TimelineStopKind::kStep;
      break;
    case RunStop::kEventLimit:
      s.kind = TimelineStopKind::kEvent;
      break;
    case RunStop::kSignal:
      s.kind = TimelineStopKind::kSignal;
      s.signo = r.signo;
      break;
    case RunStop::kInterrupted:
      s.kind = TimelineStopKind::kInterrupted;
      break;
    case RunStop::kEnd: {
      const auto& st = current_->stats();
      if (st.end_signal) {
        s.kind = TimelineStopKind::kSignal;
        s.signo = *st.end_signal;
        s.tid = st.end_tid;
      } else {
        s.kind = TimelineStopKind::kHistoryEnd;
      }
      break;
    }
  }
  return s;
}

void ReplayTimeline::record_forward(const RunRequest& request, const RunResult& r,
                                    uint64_t events_before) {
  uint64_t now = current_->events_done();
  if (!in_segment(r)) {
    position_ = {now, {}};
    return;
  }
  if (now != events_before || now != position_.event) {
    position_ = {now, {}};
  }
  if (r.stop == RunStop::kStep) {
    push_move(position_.moves, Move{Move::Kind::kStep, r.tid, {}, 1});
  } else {
    push_move(position_.moves, Move{Move::Kind::kRun, 0, request.stops, 1});
  }
}

Result<TimelineStop> ReplayTimeline::resume(const RunRequest& request) {
  bool was_at_end = current_->at_end();
  uint64_t before = current_->events_done();
  auto r = current_->run(request);
  if (!r) {
    return std::unexpected(r.error());
  }
  record_forward(request, *r, before);
  TimelineStop stop = stop_of(*r);
  if (r->stop == RunStop::kEnd && was_at_end) {
    stop.kind = TimelineStopKind::kHistoryEnd;
  }
  return stop;
}

Result<std::optional<std::pair<Position, RunResult>>> ReplayTimeline::last_stop_between(
    uint64_t from, const Position& end, const StopSet& stops) {
  auto made = session_at(from);
  if (!made) {
    return std::unexpected(made.error());
  }
  ReplaySession& s = **made;
  std::optional<std::pair<Position, RunResult>> last;
  // Whole segments before the end's event.
  uint64_t k = 0;
  while (s.events_done() < end.event && !s.at_end()) {
    auto r = s.run(RunRequest{.stops = stops, .until_event = end.event});
    if (!r) {
      return std::unexpected(r.error());
    }
    if (!in_segment(*r)) {
      break;
    }
    k = last && last->first.event == s.events_done() ? k + 1 : 1;
    last = {Position{s.events_done(), {Move{Move::Kind::kRun, 0, stops, k}}}, *r};
  }
  if (s.events_done() != end.event) {
    return last;
  }
  // The end's own segment: follow its moves, noting the stops met on the way.
  std::vector<Move> prefix;
  for (size_t i = 0; i < end.moves.size(); ++i) {
    const Move& m = end.moves[i];
    bool last_move = i + 1 == end.moves.size();
    if (m.kind == Move::Kind::kRun) {
      StopSet both = merged(m.stops, stops);
      uint64_t own = 0, all = 0;
      while (own < m.count) {
        auto r = s.run(RunRequest{.stops = both});
        if (!r) {
          return std::unexpected(r.error());
        }
        if (!in_segment(*r)) {
          return fail("the replay did not arrive at the same position again (event {})",
                      end.event);
        }
        ++all;
        bool is_own = in_stops(m.stops, *r);
        if (is_own) {
          ++own;
        }
        bool is_end = last_move && own == m.count && is_own;
        if (in_stops(stops, *r) && !is_end) {
          std::vector<Move> at = prefix;
          at.push_back(Move{Move::Kind::kRun, 0, both, all});
          last = {Position{end.event, at}, *r};
        }
      }
    } else {
      for (uint64_t j = 1; j <= m.count; ++j) {
        auto r = s.run(RunRequest{.stops = stops, .step_tid = m.tid});
        if (!r) {
          return std::unexpected(r.error());
        }
        if (!in_segment(*r)) {
          return fail("the replay did not arrive at the same position again (event {})",
                      end.event);
        }
        bool is_end = last_move && j == m.count;
        if (in_stops(stops, *r) && !is_end) {
          std::vector<Move> at = prefix;
          push_move(at, Move{Move::Kind::kStep, m.tid, {}, j});
          last = {Position{end.event, at}, *r};
        }
      }
    }
    prefix.push_back(m);
  }
  return last;
}

Result<TimelineStop> ReplayTimeline::reverse_continue(const StopSet& stops) {
  Position end = position_;
  uint64_t interval = options_.checkpoint_interval;
  for (;;) {
    uint64_t last_event = end.moves.empty() && end.event > 0 ? end.event - 1 : end.event;
    uint64_t from = (last_event / interval) * interval;
    if (!stops.empty()) {
      auto found = last_stop_between(from, end, stops);
      if (!found) {
        return std::unexpected(found.error());
      }
      if (*found) {
        if (auto s = seek((*found)->first); !s) {
          return std::unexpected(s.error());
        }
        TimelineStop hit = stop_from_hit((*found)->second);
        if (hit.kind == TimelineStopKind::kWatchpoint) {
          // Going backwards, a write is met before it happens: gdb shows the value
          // after it as the old one and the value before it as the new one.
          auto back = reverse_step(hit.tid, {});
          if (!back) {
            return std::unexpected(back.error());
          }
        }
        return hit;
      }
    }
    if (from == 0) {
      if (auto s = seek(Position{}); !s) {
        return std::unexpected(s.error());
      }
      return TimelineStop{TimelineStopKind::kHistoryBegin, current_->segment_thread(), 0, 0};
    }
    end = Position{from, {}};
  }
}

Result<TimelineStop> ReplayTimeline::reverse_step(uint32_t tid, const StopSet& stops) {
  (void)stops;  // gdb checks its breakpoints at the new position itself
  const Position here = position_;
  uint32_t segment = current_->segment_thread();
  Position to;
  if (!here.moves.empty() && segment == tid) {
    std::vector<Move> prefix(here.moves.begin(), here.moves.end() - 1);
    Move last = here.moves.back();
    if (last.kind == Move::Kind::kStep) {
      to = Position{here.event, prefix};
      if (last.count > 1) {
        to.moves.push_back(Move{Move::Kind::kStep, last.tid, {}, last.count - 1});
      }
    } else {
      // The instruction before the run's last stop: step from the stop before it.
      std::vector<Move> before = prefix;
      if (last.count > 1) {
        before.push_back(Move{Move::Kind::kRun, 0, last.stops, last.count - 1});
      }
      auto made = session_at(here.event);
      if (!made) {
        return std::unexpected(made.error());
      }
      if (auto a = apply_moves(**made, before); !a) {
        return std::unexpected(a.error());
      }
      uint64_t steps = 0;
      for (;;) {
        auto r = (*made)->run(RunRequest{.stops = last.stops, .step_tid = tid});
        if (!r) {
          return std::unexpected(r.error());
        }
        ++steps;
        if (!in_segment(*r) || (*made)->events_done() != here.event) {
          return fail("the replay did not arrive at the same position again (event {})",
                      here.event);
        }
        if (r->stop == RunStop::kWatchpoint || r->stop == RunStop::kBreakpoint ||
            in_stops(last.stops, *r)) {
          break;
        }
      }
      to = Position{here.event, before};
      if (steps > 1) {
        push_move(to.moves, Move{Move::Kind::kStep, tid, {}, steps - 1});
      }
    }
  } else {
    // The thread last ran in an earlier segment: find it, and count its instructions
    // up to the event that ended it.
    const EventHistory& h = current_->history();
    std::optional<uint64_t> found;
    for (uint64_t i = std::min<uint64_t>(here.event, h.tid.size()); i-- > 0;) {
      if (h.tid[i] == tid && h.ran[i]) {
        found = i;
        break;
      }
    }
    if (!found) {
      if (auto s = seek(Position{}); !s) {
        return std::unexpected(s.error());
      }
      return TimelineStop{TimelineStopKind::kHistoryBegin, tid, 0, 0};
    }
    auto made = session_at(*found);
    if (!made) {
      return std::unexpected(made.error());
    }
    uint64_t steps = 0;
    while ((*made)->events_done() == *found) {
      auto r = (*made)->run(RunRequest{.step_tid = tid, .until_event = *found + 1});
      if (!r) {
        return std::unexpected(r.error());
      }
      if (r->stop == RunStop::kEnd) {
        break;
      }
      ++steps;
    }
    to = Position{*found, {}};
    if (steps > 1) {
      to.moves.push_back(Move{Move::Kind::kStep, tid, {}, steps - 1});
    }
  }
  if (auto s = seek(to); !s) {
    return std::unexpected(s.error());
  }
  auto regs = current_->registers(tid);
  return TimelineStop{TimelineStopKind::kStep, tid, regs ? regs->rip : 0, 0};
}

Result<TimelineStop> ReplayTimeline::seek_event(uint64_t event) {
  event = std::min(event, total_events_);
  if (auto s = seek(Position{event, {}}); !s) {
    return std::unexpected(s.error());
  }
  const EventHistory& h = current_->history();
  uint32_t tid = event > 0 && event <= h.tid.size() ? h.tid[event - 1] : 0;
  if (current_->at_end() && current_->stats().end_tid != 0) {
    tid = current_->stats().end_tid;  // the crashing thread, where the story ends
  }
  if (tid == 0 || current_->real_tid(tid) == 0) {
    auto threads = current_->threads();
    tid = threads.empty() ? 0 : threads.front();
  }
  return TimelineStop{TimelineStopKind::kEvent, tid, 0, 0};
}

}  // namespace rwd
