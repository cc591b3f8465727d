#include "record/shared_memory_watch.h"

#include <algorithm>

namespace rwd {

namespace {

constexpr uint64_t kPage = 4096;

bool watchable(const MapEntry& m) { return m.shared() && m.writable() && m.readable(); }

}  // namespace

uint64_t SharedMemoryWatch::watched_bytes() const {
  uint64_t total = 0;
  for (const auto& r : regions_) {
    total += r.bytes.size();
  }
  return total;
}

void SharedMemoryWatch::add_shared(const std::vector<MapEntry>& maps, TargetMemory& mem) {
  uint64_t total = watched_bytes();
  for (const auto& m : maps) {
    if (!watchable(m)) {
      continue;
    }
    bool known = std::ranges::any_of(regions_, [&](const MemoryBytes& r) {
      return r.addr == m.start && r.bytes.size() == m.size();
    });
    if (known) {
      continue;
    }
    if (total + m.size() > kMaxWatched) {
      ++skipped_;
      continue;
    }
    std::string bytes;
    if (mem.read(m.start, m.size(), bytes) && bytes.size() == m.size()) {
      total += m.size();
      regions_.push_back({m.start, std::move(bytes)});
    }
  }
}

void SharedMemoryWatch::collect(TargetMemory& mem, std::vector<MemoryBytes>& outputs) {
  std::string now;
  for (auto& r : regions_) {
    if (!mem.read(r.addr, r.bytes.size(), now) || now.size() != r.bytes.size()) {
      continue;  // not readable now (PROT_NONE for a while): compared again later
    }
    size_t run_start = 0;
    bool in_run = false;
    for (size_t at = 0; at <= now.size(); at += kPage) {
      size_t len = std::min<size_t>(kPage, now.size() - std::min(at, now.size()));
      bool changed = at < now.size() && now.compare(at, len, r.bytes, at, len) != 0;
      if (changed && !in_run) {
        run_start = at;
        in_run = true;
      } else if (!changed && in_run) {
        outputs.push_back({r.addr + run_start, now.substr(run_start, at - run_start)});
        in_run = false;
      }
    }
    r.bytes.swap(now);
  }
  // The kernel writes a word while its thread finishes exiting, which can be after
  // another thread's syscall returned: unchanged, a word is kept until its thread is gone.
  std::erase_if(words_, [&](const Word& w) {
    bool read = mem.read(w.before.addr, w.before.bytes.size(), now) &&
                now.size() == w.before.bytes.size();
    if (read && now != w.before.bytes) {
      outputs.push_back({w.before.addr, now});
      return true;
    }
    return w.owner_gone || !read;
  });
}

void SharedMemoryWatch::watch_word(TargetMemory& mem, uint64_t addr, size_t len,
                                   pid_t owner) {
  std::string bytes;
  if (mem.read(addr, len, bytes) && bytes.size() == len) {
    words_.push_back({{addr, std::move(bytes)}, owner, false});
  }
}

void SharedMemoryWatch::owner_gone(pid_t owner) {
  for (auto& w : words_) {
    w.owner_gone = w.owner_gone || w.owner == owner;
  }
}

void SharedMemoryWatch::keep_mapped(const std::vector<MapEntry>& maps) {
  std::erase_if(regions_, [&](const MemoryBytes& r) {
    uint64_t end = r.addr + r.bytes.size();
    return !std::ranges::any_of(maps, [&](const MapEntry& m) {
      return m.shared() && m.start <= r.addr && end <= m.end;  // even if now read-only
    });
  });
}

}  // namespace rwd
