#include "store/store_uri.h"

#include <filesystem>
#include <system_error>

namespace rwd {
namespace {

std::string trim_slashes(std::string_view s) {
  while (s.starts_with('/')) {
    s.remove_prefix(1);
  }
  while (s.ends_with('/')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Bucket naming rules from the S3 documentation (the subset that matters for parsing:
// 3-63 characters of lower-case letters, digits, '.', '-', starting and ending with a
// letter or digit).
bool valid_bucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) {
    return false;
  }
  for (char c : b) {
    bool okc = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!okc) {
      return false;
    }
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(b.front()) && alnum(b.back());
}

}  // namespace

std::string join_key(std::string_view prefix, std::string_view key) {
  std::string p = trim_slashes(prefix);
  std::string k(key);
  while (k.starts_with('/')) {
    k.erase(0, 1);
  }
  if (p.empty()) {
    return k;
  }
  return k.empty() ? p : p + "/" + k;
}

std::string StoreUri::to_string() const {
  if (kind == Kind::kS3) {
    return prefix.empty() ? "s3://" + bucket : "s3://" + bucket + "/" + prefix;
  }
  return "file://" + path;
}

std::string StoreUri::object_uri(std::string_view key) const {
  if (kind == Kind::kS3) {
    return "s3://" + bucket + "/" + join_key(prefix, key);
  }
  return "file://" + (std::filesystem::path(path) / std::string(key)).string();
}

Result<StoreUri> parse_store_uri(std::string_view text) {
  StoreUri uri;
  if (text.empty()) {
    return fail("store URI is empty (use file:///DIR or s3://BUCKET/PREFIX)");
  }
  if (text.starts_with("s3://")) {
    std::string_view rest = text.substr(5);
    auto slash = rest.find('/');
    std::string_view bucket = rest.substr(0, slash);
    if (bucket.empty()) {
      return fail("bad store URI \"{}\": no bucket name (use s3://BUCKET/PREFIX)", text);
    }
    if (!valid_bucket(bucket)) {
      return fail(
          "bad store URI \"{}\": \"{}\" is not a valid bucket name (3-63 lower-case letters, "
          "digits, '.' or '-')",
          text, bucket);
    }
    uri.kind = StoreUri::Kind::kS3;
    uri.bucket = std::string(bucket);
    if (slash != std::string_view::npos) {
      uri.prefix = trim_slashes(rest.substr(slash + 1));
    }
    if (uri.prefix.find("//") != std::string::npos) {
      return fail("bad store URI \"{}\": empty path segment in the prefix", text);
    }
    return uri;
  }
  std::string_view path = text;
  if (text.starts_with("file://")) {
    path = text.substr(7);
    if (!path.starts_with('/')) {
      return fail(
          "bad store URI \"{}\": a file URI needs an absolute path, as in file:///var/recordings",
          text);
    }
  } else if (auto colon = text.find("://"); colon != std::string_view::npos) {
    return fail("bad store URI \"{}\": unknown scheme \"{}\" (use file:///DIR or s3://BUCKET/PREFIX)",
                text, text.substr(0, colon));
  }
  std::error_code ec;
  auto abs = std::filesystem::absolute(std::filesystem::path(path), ec);
  if (ec) {
    return fail("bad store URI \"{}\": {}", text, ec.message());
  }
  uri.kind = StoreUri::Kind::kFile;
  uri.path = abs.lexically_normal().string();
  while (uri.path.size() > 1 && uri.path.ends_with('/')) {
    uri.path.pop_back();
  }
  return uri;
}

}  // namespace rwd

namespace rwd {

std::optional<ObjectLocation> split_object_uri(const StoreUri& uri) {
  if (uri.kind == StoreUri::Kind::kS3) {
    if (!uri.prefix.ends_with(".rwd")) {
      return std::nullopt;
    }
    ObjectLocation loc{uri, uri.prefix};
    auto slash = uri.prefix.rfind('/');
    loc.store.prefix = slash == std::string::npos ? "" : uri.prefix.substr(0, slash);
    return loc;
  }
  std::filesystem::path p(uri.path);
  if (!uri.path.ends_with(".rwd") || !p.has_parent_path()) {
    return std::nullopt;
  }
  ObjectLocation loc{uri, p.filename().string()};
  loc.store.path = p.parent_path().string();
  return loc;
}

}  // namespace rwd
