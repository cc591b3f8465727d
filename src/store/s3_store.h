// S3Store: recordings in an S3 bucket (AWS S3 or an S3-compatible server).
//
// Small files go up in one PUT; larger ones as a multipart upload with several parts in
// flight (one thread and connection each). A single PUT carries the body's SHA-256 in
// x-amz-content-sha256 (signed, so S3 verifies it) and a Content-MD5; every part carries
// its SHA-256 in x-amz-checksum-sha256, which S3 verifies and keeps with the part. An
// upload is done only when a HEAD shows the expected size and sha256 metadata.
//
// A multipart upload reports its state (upload id, completed parts with ETags) through
// PutOptions::on_state; passing that state back in PutOptions::resume continues it
// after a crash, checking with ListParts what the server really has. An upload that
// nobody can resume (no on_state) is aborted when it fails, so no incomplete upload
// lingers in the bucket.
//
//   S3Store store(S3Config{...}, "prod", StoreOptions{});
//   auto info = store.put("/recordings/a.rwd", "prod/host/app/...rwd", PutOptions{});
#pragma once

#include "store/s3_client.h"
#include "store/store.h"

namespace rwd {

class S3Store : public Store {
 public:
  S3Store(S3Config config, std::string prefix, const StoreOptions& options);

  std::string uri(std::string_view key) const override;
  std::string prefix() const override { return prefix_; }
  Result<ObjectInfo> put(const std::filesystem::path& file, const std::string& key,
                         const PutOptions& options) override;
  Result<std::vector<ObjectInfo>> list() override;
  Result<std::optional<ObjectInfo>> find(const std::string& key) override;
  Result<ObjectInfo> get(const std::string& key, const std::filesystem::path& dest,
                         const ProgressFn& progress, bool verify) override;

  // Lists the incomplete multipart uploads of `key` (upload ids).
  Result<std::vector<std::string>> incomplete_uploads(const std::string& key);
  Status abort_upload(const std::string& key, const std::string& upload_id);

  // The part size used for a file of `size` bytes (at least 5 MiB, at most 10000 parts).
  uint64_t part_size_for(uint64_t size) const;

 private:
  Status put_single(int fd, uint64_t size, const std::string& key, const Metadata& meta,
                    const PutOptions& options);
  Status put_multipart(int fd, uint64_t size, const std::string& key, const Metadata& meta,
                       const PutOptions& options);
  Result<std::vector<UploadedPart>> list_parts(const std::string& key,
                                                              const std::string& upload_id,
                                                              uint64_t part_size, uint64_t size,
                                                              bool& upload_gone);
  Result<ObjectInfo> verify(const std::string& key, uint64_t size, const std::string& sha256);
  std::vector<std::string> object_headers(const Metadata& meta) const;

  S3Client s3_;
  std::string prefix_;
  StoreOptions options_;
};

}  // namespace rwd
