// StoreUri: where recordings go, parsed from what a user types.
//
//   file:///var/lib/rewind/recordings   a local directory (the default store)
//   /var/lib/rewind/recordings          the same, as a plain absolute or relative path
//   s3://bucket/some/prefix             an S3 bucket and an optional key prefix
//
// For commands that name one object (`rewind pull`), the same syntax names the object:
// s3://bucket/full/key.rwd or file:///dir/key.rwd.
//
//   auto uri = parse_store_uri("s3://recordings/prod");
//   if (uri && uri->kind == StoreUri::Kind::kS3) use(uri->bucket, uri->prefix);
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace rwd {

struct StoreUri {
  enum class Kind { kFile, kS3 };
  Kind kind = Kind::kFile;
  std::string path;    // kFile: the directory (or object path), absolute
  std::string bucket;  // kS3
  std::string prefix;  // kS3: key prefix without leading or trailing '/'

  // Canonical text: file:///abs/dir or s3://bucket/prefix.
  std::string to_string() const;
  // The URI of an object `key` inside this store.
  std::string object_uri(std::string_view key) const;
};

Result<StoreUri> parse_store_uri(std::string_view text);

// Joins a prefix and a key with exactly one '/' between them (none when prefix is empty).
std::string join_key(std::string_view prefix, std::string_view key);

}  // namespace rwd

namespace rwd {

// Splits a URI naming one object (its path ends in ".rwd") into the store holding it
// and the object's key: s3://b/p/x.rwd -> (s3://b/p, "p/x.rwd");
// file:///d/x.rwd -> (file:///d, "x.rwd"). nullopt when the URI names no object.
struct ObjectLocation {
  StoreUri store;
  std::string key;
};
std::optional<ObjectLocation> split_object_uri(const StoreUri& uri);

}  // namespace rwd
