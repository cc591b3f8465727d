#include "format/event_cursor.h"

namespace rwd {

EventCursor::EventCursor(const RecordingReader& reader)
    : reader_(&reader), index_of_chunks_(std::make_shared<Index>()) {
  index_of_chunks_->first.push_back(0);
}

Status EventCursor::load(size_t chunk) {
  auto events = reader_->read_event_chunk(chunk);
  if (!events) {
    return std::unexpected(events.error());
  }
  events_ = std::move(*events);
  chunk_ = chunk;
  loaded_ = true;
  pos_ = 0;
  auto& first = index_of_chunks_->first;
  if (first.size() == chunk + 1) {
    first.push_back(first[chunk] + events_.size());
  }
  return ok();
}

Result<const Event*> EventCursor::peek() {
  for (;;) {
    if (loaded_ && pos_ < events_.size()) {
      return &events_[pos_];
    }
    size_t next_chunk = loaded_ ? chunk_ + 1 : chunk_;
    if (next_chunk >= reader_->event_chunks()) {
      index_of_chunks_->complete = true;
      return nullptr;
    }
    if (auto s = load(next_chunk); !s) {
      return std::unexpected(s.error());
    }
  }
}

Result<const Event*> EventCursor::next() {
  auto e = peek();
  if (e && *e != nullptr) {
    ++pos_;
    ++index_;
  }
  return e;
}

Status EventCursor::seek(uint64_t index) {
  const auto& first = index_of_chunks_->first;
  // The chunk holding `index`: the last one known to start at or before it.
  size_t chunk = 0;
  for (size_t i = 0; i + 1 < first.size() && i < reader_->event_chunks(); ++i) {
    if (first[i] <= index) {
      chunk = i;
    }
  }
  if (!loaded_ || chunk_ != chunk) {
    if (chunk < reader_->event_chunks()) {
      if (auto s = load(chunk); !s) {
        return s;
      }
    } else {
      loaded_ = false;
      chunk_ = chunk;
      events_.clear();
    }
  }
  pos_ = 0;
  index_ = first[chunk];
  while (index_ < index) {
    auto e = next();
    if (!e) {
      return std::unexpected(e.error());
    }
    if (*e == nullptr) {
      return fail("cannot seek to event {}: the recording has only {}", index + 1, index_);
    }
  }
  return ok();
}

Result<uint64_t> EventCursor::total() {
  // Chunks this cursor (or a copy) has read are counted already; only the rest are read.
  auto& first = index_of_chunks_->first;
  for (size_t i = first.size() - 1; i < reader_->event_chunks(); ++i) {
    auto events = reader_->read_event_chunk(i);
    if (!events) {
      return std::unexpected(events.error());
    }
    first.push_back(first[i] + events->size());
  }
  index_of_chunks_->complete = true;
  return first[reader_->event_chunks()];
}

}  // namespace rwd
