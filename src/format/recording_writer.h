// RecordingWriter: streams a .rwd file while a recording runs.
//
// Chunks are appended as they are produced, so a recorder killed at any point leaves a
// file readable up to its last complete chunk. The file is created with mode 0600
// (it holds process memory) and never overwrites an existing file.
//
// Thread-safe: chunks are written whole under a lock (compression happens outside it),
// so a helper thread can bundle files while the recorder thread appends events. Event
// order is the order of append_event calls.
//
//   auto w = RecordingWriter::create("app.rwd");
//   w->write_manifest(manifest);
//   w->add_blob({{"kind", "file"}, {"path", "/usr/bin/app"}}, contents);
//   w->append_event(e);           // buffered; flushed every kEventChunkBytes or on flush
//   w->finish(trailer);           // flushes, fsyncs
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/unique_fd.h"
#include "format/chunk.h"
#include "format/event.h"

namespace rwd {

// Blob pieces and event runs are cut at this size before compression.
inline constexpr size_t kBlobPieceBytes = 8u << 20;
inline constexpr size_t kEventChunkBytes = 1u << 20;

class RecordingWriter {
 public:
  static Result<RecordingWriter> create(const std::filesystem::path& path);
  // Whether create() can be expected to succeed: `path` does not exist and its directory
  // is writable. For checking before a long operation; create() still decides.
  static Status check_creatable(const std::filesystem::path& path);
  RecordingWriter(RecordingWriter&&) = default;
  RecordingWriter& operator=(RecordingWriter&&) = default;

  Status write_manifest(const nlohmann::json& manifest);

  // Stores `data` as one blob, split into pieces of kBlobPieceBytes. `meta` must hold a
  // "kind" string; the writer adds "id", "offset" and "size" (total bytes).
  Status add_blob(nlohmann::json meta, std::string_view data);
  // Same, reading the data from fd until EOF (bounded memory).
  Status add_blob_from_fd(nlohmann::json meta, int fd);

  Status append_event(const Event& e);
  Status flush_events();

  // Flushes pending events, writes the trailer and fsyncs the file.
  Status finish(const nlohmann::json& trailer);

  const std::filesystem::path& path() const { return path_; }
  uint64_t bytes_written() const {
    std::lock_guard lock(*mu_);
    return offset_;
  }
  uint64_t events_written() const { return events_; }

 private:
  RecordingWriter(std::filesystem::path path, UniqueFd fd)
      : path_(std::move(path)), fd_(std::move(fd)), mu_(std::make_unique<std::mutex>()) {}
  Status write_chunk(ChunkType type, std::string_view raw);
  Status write_blob_piece(const nlohmann::json& meta, std::string_view piece);

  std::filesystem::path path_;
  UniqueFd fd_;
  uint64_t offset_ = 0;
  uint64_t events_ = 0;
  uint64_t next_blob_id_ = 1;
  std::string pending_events_;
  std::unique_ptr<std::mutex> mu_;  // guards fd_ writes, offset_, next_blob_id_, pending_events_
};

}  // namespace rwd
