// Store: a destination for recordings — a local directory or an S3 bucket — behind one
// interface, chosen by URI (see store_uri.h).
//
// An upload counts as done only after the store confirms it: put() ends with a check
// that the stored object has the expected size and sha256 metadata. get() verifies the
// sha256 while downloading and fails, leaving nothing behind, on a mismatch.
//
// Thread rules: a Store may be used from one thread at a time; it may use worker
// threads internally (parallel multipart upload).
//
//   auto store = open_store(*parse_store_uri("s3://recordings/prod"), StoreOptions{});
//   PutOptions opts;
//   opts.metadata = recording_metadata(origin, sha, size);
//   auto info = (*store)->put("/recordings/a.rwd", key, opts);
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/object_key.h"
#include "store/store_uri.h"

namespace rwd {

struct ObjectInfo {
  std::string key;  // full key (including the store's prefix)
  uint64_t size = 0;
  std::chrono::system_clock::time_point modified;
  Metadata metadata;  // user metadata; filled by head(), not by list()
};

// The resumable state of a multipart upload, persisted by UploadQueue so a restarted
// process continues instead of starting again.
struct UploadedPart {
  int number = 0;
  std::string etag;
  std::string checksum_sha256;  // base64, as sent in x-amz-checksum-sha256
  auto operator<=>(const UploadedPart&) const = default;
};
struct MultipartState {
  std::string upload_id;
  uint64_t part_size = 0;
  std::vector<UploadedPart> parts;  // completed parts, by number
};

// Progress of one transfer: bytes done of total.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct PutOptions {
  Metadata metadata;  // sha256 and size are added when missing
  ProgressFn progress;
  // Resume point (may be empty); on_state is called each time it changes so the
  // caller can persist it. A store without multipart uploads ignores both.
  MultipartState resume;
  std::function<void(const MultipartState&)> on_state;
};

class Store {
 public:
  virtual ~Store() = default;
  // The URI of `key`, e.g. s3://bucket/prefix/key.
  virtual std::string uri(std::string_view key) const = 0;
  // The store's own key prefix ("" for a directory).
  virtual std::string prefix() const = 0;

  // Uploads `file` as `key` (a full key, see prefix()) and verifies it.
  virtual Result<ObjectInfo> put(const std::filesystem::path& file, const std::string& key,
                                 const PutOptions& options) = 0;
  // Objects below the prefix, in no particular order.
  virtual Result<std::vector<ObjectInfo>> list() = 0;
  // Size, time and user metadata of one object; an error when it does not exist.
  Result<ObjectInfo> head(const std::string& key);
  // Returns nullopt when the object does not exist.
  virtual Result<std::optional<ObjectInfo>> find(const std::string& key) = 0;
  // Downloads `key` to `dest` (written to a temporary file beside it, renamed into place
  // only when the sha256 matches the object's metadata).
  virtual Result<ObjectInfo> get(const std::string& key, const std::filesystem::path& dest,
                                 const ProgressFn& progress, bool verify = true) = 0;
};

struct StoreOptions {
  std::string s3_endpoint;  // e.g. http://127.0.0.1:7070; empty = AWS or AWS_ENDPOINT_URL
  std::string region;       // empty = AWS_REGION, AWS_DEFAULT_REGION, us-east-1
  std::string sse;          // "", "AES256" or "aws:kms"
  std::string sse_kms_key_id;
  uint64_t part_size = 0;            // 0 = automatic
  uint64_t multipart_threshold = 0;  // 0 = automatic
  int concurrency = 4;               // parts in flight
  int max_attempts = 8;              // per request, with exponential backoff and jitter
  uint64_t max_bytes_per_second = 0;  // upload bandwidth limit, 0 = unlimited
};

Result<std::unique_ptr<Store>> open_store(const StoreUri& uri, const StoreOptions& options);

// Streams `file` once to compute its sha256 and size.
struct FileDigest {
  std::string sha256;
  uint64_t size = 0;
};
Result<FileDigest> digest_file(const std::filesystem::path& file);

}  // namespace rwd
