// EventCursor: reads a recording's events one at a time, in order, and can seek back to
// any event by its index. Replay pulls from it (replay/replay_session.h); several
// cursors over one reader are independent.
//
// Only the chunk being read is held decoded, so a cursor costs one chunk of memory
// however long the recording is. The first pass over the file counts the events of
// each chunk; seeking then decodes one chunk.
//
//   EventCursor c(reader);
//   while (auto e = c.next()) { if (!*e) break; use(**e); }   // nullptr at the end
//   c.seek(120);   // the next event is the 121st
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/error.h"
#include "format/recording_reader.h"

namespace rwd {

class EventCursor {
 public:
  explicit EventCursor(const RecordingReader& reader);

  // The next event, or nullptr after the last one. The pointer stays valid until the
  // next call.
  Result<const Event*> next();
  // Without consuming it.
  Result<const Event*> peek();
  // Events consumed so far (the index of the event next() returns).
  uint64_t index() const { return index_; }
  Status seek(uint64_t index);
  // Counts every event: reads the chunks not read yet, once for all copies.
  Result<uint64_t> total();

 private:
  struct Index {
    std::vector<uint64_t> first;  // index of each chunk's first event, as far as known
    bool complete = false;
  };
  Status load(size_t chunk);

  const RecordingReader* reader_;
  std::shared_ptr<Index> index_of_chunks_;
  size_t chunk_ = 0;  // chunk held in events_
  bool loaded_ = false;
  std::vector<Event> events_;
  size_t pos_ = 0;  // within events_
  uint64_t index_ = 0;
};

}  // namespace rwd
