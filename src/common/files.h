// Small file helpers: whole-file reads, durable writes, temporary directories.
//
// Writes that must never be seen half-done (recordings, queue entries) go through
// write_file_atomic: temp file in the same directory, fsync, rename, fsync directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"

namespace rwd {

Result<std::string> read_file(const std::filesystem::path& path);

// Writes everything in `data` to fd, retrying short writes and EINTR.
Status write_all(int fd, std::span<const uint8_t> data);
Status write_all(int fd, std::string_view data);

// Reads exactly data.size() bytes at offset (pread); fails on a short read.
Status pread_exact(int fd, std::span<uint8_t> data, uint64_t offset);

// Writes `data` to `path` atomically with the given mode.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data,
                         mode_t mode = 0644);

// fsyncs the directory that holds `path`, so a rename inside it is durable.
Status fsync_parent_dir(const std::filesystem::path& path);

// A directory removed with its contents when the object dies.
class TempDir {
 public:
  static Result<TempDir> create(std::string_view prefix = "rewind");
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  // Keeps the directory on disk after destruction.
  std::filesystem::path release() { return std::exchange(path_, {}); }

 private:
  explicit TempDir(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

}  // namespace rwd
