// QueueEntry: what the upload queue knows about one spooled recording, kept in a small
// JSON file next to it (<spool>/<id>.json beside <spool>/<id>.rwd):
//
//   {"key": "prod/shop/cart/app/20261127T180000Z-1-crash.rwd",
//    "metadata": {"sha256": "...", "size": "1234", "reason": "crash", ...},
//    "upload": {"upload_id": "...", "part_size": 8388608,
//               "parts": [{"number": 1, "etag": "\"...\"", "sha256": "<base64>"}]}}
//
// "upload" is present while a multipart upload is in flight, so a restarted process
// resumes it instead of starting over (or uploading a second copy).
//
//   auto e = read_queue_entry(spool / "x.json");
//   e->upload.parts.push_back({3, etag, checksum});
//   write_queue_entry(spool / "x.json", *e);
#pragma once

#include <filesystem>
#include <string>

#include "common/error.h"
#include "store/store.h"

namespace rwd {

struct QueueEntry {
  std::string key;
  Metadata metadata;
  MultipartState upload;
};

std::string queue_entry_to_json(const QueueEntry& entry);
// Rejects malformed documents (a truncated or foreign file) with an error naming `what`.
Result<QueueEntry> queue_entry_from_json(std::string_view text, std::string_view what);

Result<QueueEntry> read_queue_entry(const std::filesystem::path& path);
// Atomic (temporary file, fsync, rename): a crash leaves the old or the new state.
Status write_queue_entry(const std::filesystem::path& path, const QueueEntry& entry);

}  // namespace rwd
