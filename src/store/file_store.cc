#include "store/file_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <system_error>

#include "common/files.h"
#include "common/sha256.h"

namespace rwd {
namespace {

constexpr std::string_view kMetaSuffix = ".meta.json";

std::filesystem::path meta_path(const std::filesystem::path& p) {
  return p.string() + std::string(kMetaSuffix);
}

}  // namespace

Result<CopiedFile> copy_to_temp(const std::filesystem::path& from, const std::filesystem::path& to,
                                const ProgressFn& progress) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) {
    return fail_errno(errno, "cannot open {}", from.string());
  }
  struct stat st {};
  fstat(in.get(), &st);
  auto dir = to.parent_path().empty() ? std::filesystem::path(".") : to.parent_path();
  std::string tmpl = (dir / ("." + to.filename().string() + ".partial-XXXXXX")).string();
  UniqueFd out(mkstemp(tmpl.data()));
  if (!out) {
    return fail_errno(errno, "cannot create a file in {}", dir.string());
  }
  CopiedFile result{tmpl, "", 0};
  auto failed = [&](int err, std::string what) {
    ::unlink(tmpl.c_str());
    return fail_errno(err, "{}", what);
  };
  ::fchmod(out.get(), 0644);
  Sha256 hash;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return failed(errno, fmt::format("cannot read {}", from.string()));
    }
    if (n == 0) {
      break;
    }
    std::span<const uint8_t> chunk(buf.data(), static_cast<size_t>(n));
    hash.update(chunk);
    if (auto s = write_all(out.get(), chunk); !s) {
      return failed(s.error().sys_errno, fmt::format("cannot write {}", tmpl));
    }
    result.size += static_cast<uint64_t>(n);
    if (progress) {
      progress(result.size, static_cast<uint64_t>(st.st_size));
    }
  }
  if (::fsync(out.get()) != 0) {
    return failed(errno, fmt::format("cannot write {}", tmpl));
  }
  result.sha256 = hash.hex_digest();
  return result;
}

FileStore::FileStore(std::filesystem::path root) : root_(std::move(root)) {}

std::string FileStore::uri(std::string_view key) const {
  return "file://" + (root_ / std::string(key)).string();
}

Result<std::filesystem::path> FileStore::path_of(const std::string& key) const {
  std::filesystem::path k(key);
  if (key.empty() || k.is_absolute()) {
    return fail("bad object key \"{}\" (a relative path inside the store is expected)", key);
  }
  for (const auto& part : k) {
    if (part == ".." || part == ".") {
      return fail("bad object key \"{}\" (no '.' or '..' components)", key);
    }
  }
  return root_ / k;
}

Result<ObjectInfo> FileStore::put(const std::filesystem::path& file, const std::string& key,
                                  const PutOptions& options) {
  auto dest = path_of(key);
  if (!dest) {
    return std::unexpected(dest.error());
  }
  std::string target = uri(key);
  std::error_code ec;
  std::filesystem::create_directories(dest->parent_path(), ec);
  if (ec) {
    return fail("cannot store {} in {}: cannot create {}: {} (check the directory's permissions)",
                file.string(), target, dest->parent_path().string(), ec.message());
  }
  auto copied = copy_to_temp(file, *dest, options.progress);
  if (!copied) {
    return fail("cannot store {} in {}: {}", file.string(), target, copied.error().message);
  }
  Metadata meta = options.metadata;
  if (meta.contains("sha256") && meta["sha256"] != copied->sha256) {
    ::unlink(copied->temp.c_str());
    return fail("cannot store {} in {}: the file changed since its sha256 was computed",
                file.string(), target);
  }
  meta["sha256"] = copied->sha256;
  meta["size"] = std::to_string(copied->size);
  nlohmann::json j = meta;
  if (auto s = write_file_atomic(meta_path(*dest), j.dump(2) + "\n"); !s) {
    ::unlink(copied->temp.c_str());
    return fail("cannot store {} in {}: {}", file.string(), target, s.error().message);
  }
  std::filesystem::rename(copied->temp, *dest, ec);
  if (ec) {
    ::unlink(copied->temp.c_str());
    return fail("cannot store {} in {}: {}", file.string(), target, ec.message());
  }
  if (auto s = fsync_parent_dir(*dest); !s) {
    return fail("cannot store {} in {}: {}", file.string(), target, s.error().message);
  }
  auto info = head(key);
  if (!info) {
    return std::unexpected(info.error());
  }
  if (info->size != copied->size || info->metadata["sha256"] != copied->sha256) {
    return fail("store of {} in {} did not verify", file.string(), target);
  }
  return info;
}

Result<std::optional<ObjectInfo>> FileStore::find(const std::string& key) {
  auto p = path_of(key);
  if (!p) {
    return std::unexpected(p.error());
  }
  struct stat st {};
  if (::stat(p->c_str(), &st) != 0) {
    if (errno == ENOENT) {
      if (!std::filesystem::is_directory(root_)) {
        return fail("cannot read {}: directory {} does not exist (create it or check the URI)",
                    uri(key), root_.string());
      }
      return std::optional<ObjectInfo>();
    }
    return fail_errno(errno, "cannot read {}", uri(key));
  }
  ObjectInfo info;
  info.key = key;
  info.size = static_cast<uint64_t>(st.st_size);
  info.modified = std::chrono::system_clock::from_time_t(st.st_mtime);
  if (auto text = read_file(meta_path(*p))) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) {
      for (auto& [k, v] : j.items()) {
        if (v.is_string()) {
          info.metadata[k] = v.get<std::string>();
        }
      }
    }
  }
  return std::optional<ObjectInfo>(std::move(info));
}

Result<std::vector<ObjectInfo>> FileStore::list() {
  std::vector<ObjectInfo> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(root_, ec)) {
    return fail("cannot list {}: {} is not a directory (create it or check the URI)",
                "file://" + root_.string(), root_.string());
  }
  std::filesystem::recursive_directory_iterator it(root_, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    std::string name = p.filename().string();
    if (!it->is_regular_file() || !name.ends_with(".rwd") || name.starts_with(".")) {
      continue;
    }
    auto info = find(std::filesystem::relative(p, root_).string());
    if (info && *info) {
      out.push_back(std::move(**info));
    }
  }
  if (ec) {
    return fail("cannot list file://{}: {}", root_.string(), ec.message());
  }
  return out;
}

Result<ObjectInfo> FileStore::get(const std::string& key, const std::filesystem::path& dest,
                                  const ProgressFn& progress, bool verify) {
  std::string src = uri(key);
  auto info = head(key);
  if (!info) {
    return std::unexpected(info.error());  // already names the object and the reason
  }
  auto copied = copy_to_temp(*path_of(key), dest, progress);
  if (!copied) {
    return fail("cannot pull {}: {}", src, copied.error().message);
  }
  std::string expected = info->metadata["sha256"];
  if (verify && expected.empty()) {
    ::unlink(copied->temp.c_str());
    return fail("cannot pull {}: it has no sha256 metadata ({}.meta.json), so it cannot be "
                "verified (pass --no-verify to copy it anyway)",
                src, src);
  }
  if (verify && expected != copied->sha256) {
    ::unlink(copied->temp.c_str());
    return fail(
        "cannot pull {}: checksum mismatch: the data has sha256 {} but its metadata says {} (the "
        "stored file is corrupt; nothing was written)",
        src, copied->sha256, expected);
  }
  std::error_code ec;
  std::filesystem::rename(copied->temp, dest, ec);
  if (ec) {
    ::unlink(copied->temp.c_str());
    return fail("cannot pull {}: cannot rename into {}: {}", src, dest.string(), ec.message());
  }
  (void)fsync_parent_dir(dest);
  return info;
}

}  // namespace rwd
