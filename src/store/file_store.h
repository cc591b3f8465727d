// FileStore: recordings in a local directory — the default store, so rewind works with
// no cloud account. Object `key` is the file <dir>/<key>; its metadata lives beside it
// in <dir>/<key>.meta.json.
//
// put() copies through a temporary file in the destination directory, fsyncs it,
// writes the metadata, then renames the data into place, so a reader never sees half a
// recording. get() verifies the sha256 the same way the S3 store does.
//
//   FileStore store("/var/lib/rewind/recordings");
//   auto info = store.put("/tmp/a.rwd", "host/app/20261127T180000Z-1-manual.rwd", {});
#pragma once

#include "store/store.h"

namespace rwd {

class FileStore : public Store {
 public:
  explicit FileStore(std::filesystem::path root);

  std::string uri(std::string_view key) const override;
  std::string prefix() const override { return ""; }
  Result<ObjectInfo> put(const std::filesystem::path& file, const std::string& key,
                         const PutOptions& options) override;
  Result<std::vector<ObjectInfo>> list() override;
  Result<std::optional<ObjectInfo>> find(const std::string& key) override;
  Result<ObjectInfo> get(const std::string& key, const std::filesystem::path& dest,
                         const ProgressFn& progress, bool verify) override;

 private:
  Result<std::filesystem::path> path_of(const std::string& key) const;
  std::filesystem::path root_;
};

// Copies `from` to a temporary file beside `to`, hashing as it goes, and returns the
// temporary file's path and the sha256 of what was copied. The caller renames it.
struct CopiedFile {
  std::filesystem::path temp;
  std::string sha256;
  uint64_t size = 0;
};
Result<CopiedFile> copy_to_temp(const std::filesystem::path& from, const std::filesystem::path& to,
                                const ProgressFn& progress);

}  // namespace rwd
