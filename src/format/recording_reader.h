// RecordingReader: opens a .rwd file and gives access to its manifest, blobs and events.
//
// Every byte is treated as hostile: sizes are bounded, checksums verified, and a
// problem is reported as an Error, never a crash. A file that was cut short (recorder
// killed, disk full) opens fine up to its last complete chunk; `truncation()` says
// where and why it stopped.
//
//   auto r = RecordingReader::open("app.rwd");
//   if (!r) { print(r.error().message); return 1; }
//   fmt::print("{}\n", r->manifest().dump(2));
//   for (const auto& b : r->blobs()) if (b.kind == "file") ...
//   r->for_each_event([](const Event& e) { ...; return true; });
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "format/chunk.h"
#include "format/event.h"

namespace rwd {

struct BlobPiece {
  uint64_t file_offset = 0;  // where the chunk header starts
  ChunkHeader header;
  uint64_t offset = 0;  // position of this piece inside the blob
  uint64_t length = 0;  // bytes of blob data in this piece
};

struct BlobInfo {
  uint64_t id = 0;
  std::string kind;      // "file", "core", "snapshot", "memory", ...
  nlohmann::json meta;   // the first piece's metadata
  uint64_t size = 0;     // total size (from the last piece seen)
  bool complete = false; // pieces cover [0, size) without gaps
  std::vector<BlobPiece> pieces;
};

class RecordingReader {
 public:
  static Result<RecordingReader> open(const std::filesystem::path& path);

  // The start manifest with the trailer's keys merged over it.
  const nlohmann::json& manifest() const { return manifest_; }
  // True when the recording ended normally (a trailer was written).
  bool finished() const { return finished_; }
  // Set when the file ends early or holds a damaged chunk: what was skipped and why.
  const std::optional<std::string>& truncation() const { return truncation_; }

  const std::vector<BlobInfo>& blobs() const { return blobs_; }
  // First blob of a kind whose meta[key] == value; nullptr if none.
  const BlobInfo* find_blob(std::string_view kind, std::string_view key = {},
                            std::string_view value = {}) const;

  Result<std::string> read_blob(const BlobInfo& blob) const;
  // Writes the blob to fd piece by piece (bounded memory).
  Status copy_blob_to_fd(const BlobInfo& blob, int fd) const;

  uint64_t event_chunks() const { return event_chunks_.size(); }
  // Calls fn for every event in order until it returns false.
  Status for_each_event(const std::function<bool(const Event&)>& fn) const;
  // The events of one event chunk, i < event_chunks() (for cursors that seek).
  Result<std::vector<Event>> read_event_chunk(size_t i) const;

  uint64_t file_size() const { return file_size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  RecordingReader() = default;
  Result<std::string> read_payload(uint64_t file_offset, const ChunkHeader& h) const;
  Status scan();

  std::filesystem::path path_;
  UniqueFd fd_;
  uint64_t file_size_ = 0;
  nlohmann::json manifest_ = nlohmann::json::object();
  bool finished_ = false;
  std::optional<std::string> truncation_;
  std::vector<BlobInfo> blobs_;
  std::vector<std::pair<uint64_t, ChunkHeader>> event_chunks_;
};

}  // namespace rwd
