#include "store/s3_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/files.h"
#include "common/sha256.h"
#include "store/sigv4.h"
#include "store/xml.h"

namespace rwd {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kMinPartSize = 5 * kMiB;  // S3's minimum for all parts but the last
constexpr uint64_t kMaxParts = 10000;

std::chrono::system_clock::time_point parse_time(std::string_view s, const char* format) {
  std::tm tm{};
  std::string str(s);
  if (!strptime(str.c_str(), format, &tm)) {
    return {};
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::span<const uint8_t> as_bytes(std::string_view s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

S3Store::S3Store(S3Config config, std::string prefix, const StoreOptions& options)
    : s3_(std::move(config)), prefix_(std::move(prefix)), options_(options) {}

std::string S3Store::uri(std::string_view key) const {
  return fmt::format("s3://{}/{}", s3_.config().bucket, key);
}

uint64_t S3Store::part_size_for(uint64_t size) const {
  uint64_t part = options_.part_size ? options_.part_size : 8 * kMiB;
  part = std::max(part, kMinPartSize);
  uint64_t needed = (size + kMaxParts - 1) / kMaxParts;
  if (part < needed) {
    part = (needed + kMiB - 1) / kMiB * kMiB;
  }
  return part;
}

std::vector<std::string> S3Store::object_headers(const Metadata& meta) const {
  std::vector<std::string> h;
  h.push_back("Content-Type: application/octet-stream");
  for (const auto& [k, v] : meta) {
    h.push_back(fmt::format("x-amz-meta-{}: {}", k, v));
  }
  if (!options_.sse.empty()) {
    h.push_back("x-amz-server-side-encryption: " + options_.sse);
    if (!options_.sse_kms_key_id.empty()) {
      h.push_back("x-amz-server-side-encryption-aws-kms-key-id: " + options_.sse_kms_key_id);
    }
  }
  return h;
}

Result<ObjectInfo> S3Store::put(const std::filesystem::path& file, const std::string& key,
                                const PutOptions& options) {
  std::string what = fmt::format("upload {} to {}", file.string(), uri(key));
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail_errno(errno, "cannot upload {}: cannot open it", file.string());
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    return fail_errno(errno, "cannot upload {}: cannot stat it", file.string());
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  Metadata meta = options.metadata;
  if (!meta.contains("sha256")) {
    auto d = digest_file(file);
    if (!d) {
      return std::unexpected(d.error());
    }
    meta["sha256"] = d->sha256;
  }
  meta["size"] = std::to_string(size);
  uint64_t threshold = options_.multipart_threshold ? options_.multipart_threshold : 16 * kMiB;
  Status s = size < threshold ? put_single(fd.get(), size, key, meta, options)
                              : put_multipart(fd.get(), size, key, meta, options);
  if (!s) {
    return std::unexpected(s.error());
  }
  return verify(key, size, meta["sha256"]);
}

Status S3Store::put_single(int fd, uint64_t size, const std::string& key, const Metadata& meta,
                           const PutOptions& options) {
  std::vector<uint8_t> body(size);
  if (auto s = pread_exact(fd, body, 0); !s) {
    return fail("cannot upload to {}: {}", uri(key), s.error().message);
  }
  std::string sha = sha256_hex(std::string_view(reinterpret_cast<char*>(body.data()), size));
  if (sha != meta.at("sha256")) {
    return fail("cannot upload to {}: the file changed since its sha256 was computed", uri(key));
  }
  S3Call c;
  c.method = "PUT";
  c.key = key;
  c.headers = object_headers(meta);
  c.headers.push_back("Content-MD5: " + content_md5(body));
  c.body = body;
  c.body_sha256 = sha;
  c.throttle = true;
  if (options.progress) {
    c.progress = [&](uint64_t done) { options.progress(done, size); };
  }
  auto resp = s3_.call(c);
  if (!resp) {
    return fail("cannot upload to {}: {}", uri(key), resp.error().message);
  }
  if (resp->status != 200) {
    return std::unexpected(s3_.describe_error(fmt::format("upload to {}", uri(key)), *resp));
  }
  return ok();
}

Result<std::vector<UploadedPart>> S3Store::list_parts(
    const std::string& key, const std::string& upload_id, uint64_t part_size, uint64_t size,
    bool& upload_gone) {
  std::vector<UploadedPart> parts;
  std::string marker;
  upload_gone = false;
  for (;;) {
    S3Call c;
    c.key = key;
    c.query = {{"uploadId", upload_id}};
    if (!marker.empty()) {
      c.query.emplace_back("part-number-marker", marker);
    }
    auto resp = s3_.call(c);
    if (!resp) {
      return fail("cannot resume the upload to {}: {}", uri(key), resp.error().message);
    }
    if (resp->status == 404) {
      upload_gone = true;
      return parts;
    }
    if (resp->status != 200) {
      return std::unexpected(s3_.describe_error(fmt::format("resume the upload to {}", uri(key)), *resp));
    }
    auto doc = parse_xml(resp->body);
    if (!doc) {
      return fail("cannot resume the upload to {}: unreadable ListParts response: {}", uri(key),
                  doc.error().message);
    }
    for (const XmlNode* p : doc->children_named("Part")) {
      int n = std::atoi(p->child_text("PartNumber").c_str());
      uint64_t psize = std::strtoull(p->child_text("Size").c_str(), nullptr, 10);
      uint64_t offset = static_cast<uint64_t>(n - 1) * part_size;
      if (n < 1 || offset >= size) {
        continue;
      }
      // A part of the wrong size was cut with another part size; upload it again.
      if (psize == std::min(part_size, size - offset)) {
        parts.push_back({n, p->child_text("ETag"), p->child_text("ChecksumSHA256")});
      }
    }
    if (doc->child_text("IsTruncated") != "true") {
      break;
    }
    marker = doc->child_text("NextPartNumberMarker");
    if (marker.empty()) {
      break;
    }
  }
  return parts;
}

Status S3Store::put_multipart(int fd, uint64_t size, const std::string& key, const Metadata& meta,
                              const PutOptions& options) {
  const std::string target = uri(key);
  MultipartState state = options.resume;
  auto notify = [&] {
    if (options.on_state) {
      options.on_state(state);
    }
  };
  if (!state.upload_id.empty()) {
    if (state.part_size < kMinPartSize) {
      state.part_size = part_size_for(size);
    }
    bool gone = false;
    auto parts = list_parts(key, state.upload_id, state.part_size, size, gone);
    if (!parts) {
      return std::unexpected(parts.error());
    }
    if (gone) {
      // Completed before a crash (then the object is there), or aborted: start again.
      auto existing = find(key);
      if (existing && *existing && (*existing)->size == size &&
          (*existing)->metadata["sha256"] == meta.at("sha256")) {
        spdlog::info("{}: the upload had already completed", target);
        return ok();
      }
      spdlog::info("{}: upload {} no longer exists on the server; starting again", target,
                   state.upload_id);
      state = MultipartState{};
    } else {
      spdlog::info("{}: resuming upload with {} parts already stored", target, parts->size());
      state.parts = std::move(*parts);
    }
  }
  if (state.upload_id.empty()) {
    state.part_size = part_size_for(size);
    S3Call c;
    c.method = "POST";
    c.key = key;
    c.query = {{"uploads", ""}};
    c.headers = object_headers(meta);
    c.headers.push_back("x-amz-checksum-algorithm: SHA256");
    auto resp = s3_.call(c);
    if (!resp) {
      return fail("cannot upload to {}: {}", target, resp.error().message);
    }
    if (resp->status != 200) {
      return std::unexpected(s3_.describe_error(fmt::format("upload to {}", target), *resp));
    }
    auto doc = parse_xml(resp->body);
    if (!doc || doc->child_text("UploadId").empty()) {
      return fail("cannot upload to {}: the server's CreateMultipartUpload answer has no UploadId",
                  target);
    }
    state.upload_id = doc->child_text("UploadId");
    state.parts.clear();
    notify();
  }

  const uint64_t part_size = state.part_size;
  const int nparts = static_cast<int>((size + part_size - 1) / part_size);
  std::vector<int> todo;
  uint64_t done_bytes = 0;
  for (int n = 1; n <= nparts; ++n) {
    bool have = std::any_of(state.parts.begin(), state.parts.end(),
                            [n](const auto& p) { return p.number == n; });
    if (have) {
      done_bytes += std::min(part_size, size - static_cast<uint64_t>(n - 1) * part_size);
    } else {
      todo.push_back(n);
    }
  }

  std::mutex mu;
  std::optional<Error> first_error;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  int workers = std::clamp(options_.concurrency, 1, 32);
  workers = std::min<int>(workers, static_cast<int>(todo.size()));
  std::vector<uint64_t> inflight(static_cast<size_t>(std::max(workers, 1)), 0);
  auto report = [&] {  // called with mu held
    if (options.progress) {
      uint64_t sum = done_bytes;
      for (uint64_t b : inflight) {
        sum += b;
      }
      options.progress(std::min(sum, size), size);
    }
  };
  auto record_error = [&](Error e) {
    std::lock_guard lock(mu);
    if (!first_error) {
      first_error = std::move(e);
    }
    failed = true;
  };
  auto worker = [&](size_t slot) {
    std::vector<uint8_t> buf;
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= todo.size() || failed) {
        return;
      }
      int n = todo[i];
      uint64_t offset = static_cast<uint64_t>(n - 1) * part_size;
      uint64_t len = std::min(part_size, size - offset);
      buf.resize(len);
      if (auto s = pread_exact(fd, buf, offset); !s) {
        record_error(Error{fmt::format("cannot upload to {}: {}", target, s.error().message), 0});
        return;
      }
      S3Call c;
      c.method = "PUT";
      c.key = key;
      c.query = {{"partNumber", std::to_string(n)}, {"uploadId", state.upload_id}};
      // One SHA-256 per part, checked by the server (x-amz-checksum-sha256) and kept
      // with the part; the payload itself is then sent unsigned, so neither side hashes
      // the data twice.
      Sha256 part_hash;
      part_hash.update(buf);
      auto digest = part_hash.digest();
      std::string checksum = base64_encode(digest);
      c.headers = {"x-amz-checksum-sha256: " + checksum};
      c.body = buf;
      c.body_sha256 = "UNSIGNED-PAYLOAD";
      c.throttle = true;
      c.progress = [&, slot](uint64_t b) {
        std::lock_guard lock(mu);
        inflight[slot] = b;
        report();
      };
      auto resp = s3_.call(c);
      if (!resp) {
        record_error(Error{fmt::format("cannot upload part {} to {}: {}", n, target,
                                       resp.error().message),
                           0});
        return;
      }
      if (resp->status != 200 || resp->header("etag").empty()) {
        record_error(s3_.describe_error(fmt::format("upload part {} to {}", n, target), *resp));
        return;
      }
      std::lock_guard lock(mu);
      inflight[slot] = 0;
      done_bytes += len;
      state.parts.push_back({n, resp->header("etag"), checksum});
      std::sort(state.parts.begin(), state.parts.end());
      notify();
      report();
    }
  };
  {
    std::vector<std::jthread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back(worker, static_cast<size_t>(w));
    }
  }
  if (first_error) {
    if (!options.on_state) {
      // Nobody can resume it: do not leave an incomplete upload (and its storage) behind.
      if (auto a = abort_upload(key, state.upload_id); !a) {
        spdlog::warn("{}", a.error().message);
      }
    }
    return std::unexpected(*first_error);
  }

  std::string body = "<CompleteMultipartUpload>";
  for (const auto& p : state.parts) {
    body += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>", p.number,
                        xml_escape(p.etag));
    if (!p.checksum_sha256.empty()) {
      body += fmt::format("<ChecksumSHA256>{}</ChecksumSHA256>", xml_escape(p.checksum_sha256));
    }
    body += "</Part>";
  }
  body += "</CompleteMultipartUpload>";
  S3Call c;
  c.method = "POST";
  c.key = key;
  c.query = {{"uploadId", state.upload_id}};
  c.headers = {"Content-Type: application/xml"};
  c.body = as_bytes(body);
  // CompleteMultipartUpload may answer 200 with an <Error> document; retry those here.
  for (int attempt = 1;; ++attempt) {
    auto resp = s3_.call(c);
    if (!resp) {
      return fail("cannot complete the upload to {}: {}", target, resp.error().message);
    }
    if (resp->status == 404 && attempt > 1) {
      // An earlier attempt completed it but its answer was lost; verify() will tell.
      return ok();
    }
    if (resp->status != 200) {
      return std::unexpected(s3_.describe_error(fmt::format("complete the upload to {}", target), *resp));
    }
    auto doc = parse_xml(resp->body);
    if (doc && doc->name != "Error") {
      return ok();
    }
    if (attempt >= s3_.config().max_attempts) {
      return std::unexpected(s3_.describe_error(fmt::format("complete the upload to {}", target), *resp));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
  }
}

Status S3Store::abort_upload(const std::string& key, const std::string& upload_id) {
  S3Call c;
  c.method = "DELETE";
  c.key = key;
  c.query = {{"uploadId", upload_id}};
  auto resp = s3_.call(c);
  if (!resp) {
    return fail("cannot abort the incomplete upload {} of {}: {}", upload_id, uri(key),
                resp.error().message);
  }
  if (resp->status != 204 && resp->status != 200 && resp->status != 404) {
    return std::unexpected(s3_.describe_error(
        fmt::format("abort the incomplete upload {} of {}", upload_id, uri(key)), *resp));
  }
  return ok();
}

Result<std::vector<std::string>> S3Store::incomplete_uploads(const std::string& key) {
  S3Call c;
  c.query = {{"uploads", ""}, {"prefix", key}};
  auto resp = s3_.call(c);
  if (!resp) {
    return fail("cannot list incomplete uploads in {}: {}", uri(key), resp.error().message);
  }
  if (resp->status != 200) {
    return std::unexpected(s3_.describe_error(fmt::format("list incomplete uploads in {}", uri(key)), *resp));
  }
  auto doc = parse_xml(resp->body);
  if (!doc) {
    return fail("cannot list incomplete uploads in {}: {}", uri(key), doc.error().message);
  }
  std::vector<std::string> ids;
  for (const XmlNode* u : doc->children_named("Upload")) {
    if (u->child_text("Key") == key) {
      ids.push_back(u->child_text("UploadId"));
    }
  }
  return ids;
}

Result<std::optional<ObjectInfo>> S3Store::find(const std::string& key) {
  S3Call c;
  c.method = "HEAD";
  c.key = key;
  auto resp = s3_.call(c);
  if (!resp) {
    return fail("cannot read {}: {}", uri(key), resp.error().message);
  }
  if (resp->status == 404) {
    // A HEAD has no body to tell a missing bucket from a missing key; ask the bucket.
    S3Call b;
    b.method = "HEAD";
    auto bucket = s3_.call(b);
    if (bucket && bucket->status == 404) {
      return std::unexpected(s3_.describe_error(fmt::format("read {}", uri(key)),
                                                HttpResponse{404, {}, "<Error><Code>NoSuchBucket</Code></Error>"}));
    }
    return std::optional<ObjectInfo>();
  }
  if (resp->status == 400 || resp->status == 403) {
    // A HEAD error has no body; a one-byte GET tells why (bad signature, no permission).
    S3Call g;
    g.key = key;
    g.headers = {"Range: bytes=0-0"};
    if (auto why = s3_.call(g); why && why->status >= 400) {
      return std::unexpected(s3_.describe_error(fmt::format("read {}", uri(key)), *why));
    }
  }
  if (resp->status != 200) {
    return std::unexpected(s3_.describe_error(fmt::format("read {}", uri(key)), *resp));
  }
  ObjectInfo info;
  info.key = key;
  info.size = std::strtoull(resp->header("content-length").c_str(), nullptr, 10);
  info.modified = parse_time(resp->header("last-modified"), "%a, %d %b %Y %H:%M:%S");
  for (const auto& [name, value] : resp->headers) {
    if (name.starts_with("x-amz-meta-")) {
      info.metadata[name.substr(11)] = value;
    }
  }
  return std::optional<ObjectInfo>(std::move(info));
}

Result<ObjectInfo> S3Store::verify(const std::string& key, uint64_t size, const std::string& sha) {
  auto info = head(key);
  if (!info) {
    return fail("cannot verify the upload to {}: {}", uri(key), info.error().message);
  }
  if (info->size != size || info->metadata["sha256"] != sha) {
    return fail(
        "upload to {} did not verify: the store reports {} bytes and sha256 {}, expected {} "
        "bytes and {} (it will be uploaded again)",
        uri(key), info->size, info->metadata["sha256"], size, sha);
  }
  return info;
}

Result<std::vector<ObjectInfo>> S3Store::list() {
  std::vector<ObjectInfo> out;
  std::string token;
  std::string where = fmt::format("s3://{}/{}", s3_.config().bucket, prefix_);
  for (;;) {
    S3Call c;
    c.query = {{"list-type", "2"}};
    if (!prefix_.empty()) {
      c.query.emplace_back("prefix", prefix_ + "/");
    }
    if (!token.empty()) {
      c.query.emplace_back("continuation-token", token);
    }
    auto resp = s3_.call(c);
    if (!resp) {
      return fail("cannot list {}: {}", where, resp.error().message);
    }
    if (resp->status != 200) {
      return std::unexpected(s3_.describe_error(fmt::format("list {}", where), *resp));
    }
    auto doc = parse_xml(resp->body);
    if (!doc) {
      return fail("cannot list {}: unreadable answer: {}", where, doc.error().message);
    }
    for (const XmlNode* o : doc->children_named("Contents")) {
      ObjectInfo info;
      info.key = o->child_text("Key");
      info.size = std::strtoull(o->child_text("Size").c_str(), nullptr, 10);
      info.modified = parse_time(o->child_text("LastModified"), "%Y-%m-%dT%H:%M:%S");
      out.push_back(std::move(info));
    }
    token = doc->child_text("NextContinuationToken");
    if (doc->child_text("IsTruncated") != "true" || token.empty()) {
      break;
    }
  }
  return out;
}

Result<ObjectInfo> S3Store::get(const std::string& key, const std::filesystem::path& dest,
                                const ProgressFn& progress, bool verify_sha) {
  std::string src = uri(key);
  auto dir = dest.parent_path().empty() ? std::filesystem::path(".") : dest.parent_path();
  std::string tmpl = (dir / ("." + dest.filename().string() + ".partial-XXXXXX")).string();
  UniqueFd fd(mkstemp(tmpl.data()));
  if (!fd) {
    return fail_errno(errno, "cannot pull {}: cannot create a file in {}", src, dir.string());
  }
  std::filesystem::path tmp = tmpl;
  auto cleanup = [&] { ::unlink(tmp.c_str()); };
  std::unique_ptr<Sha256> hash;
  uint64_t received = 0;
  uint64_t total = 0;
  S3Call c;
  c.key = key;
  c.before_attempt = [&] {
    hash = std::make_unique<Sha256>();
    received = 0;
    (void)!ftruncate(fd.get(), 0);
    ::lseek(fd.get(), 0, SEEK_SET);
  };
  c.sink = [&](std::span<const uint8_t> data) -> Status {
    hash->update(data);
    received += data.size();
    if (auto s = write_all(fd.get(), data); !s) {
      return fail("cannot write {}: {}", tmp.string(), s.error().message);
    }
    return ok();
  };
  if (progress) {
    c.progress = [&](uint64_t done) { progress(done, total); };
  }
  auto info = head(key);
  if (!info) {
    cleanup();
    return std::unexpected(info.error());  // already names the object and the reason
  }
  total = info->size;
  auto resp = s3_.call(c);
  if (!resp) {
    cleanup();
    return fail("cannot pull {}: {}", src, resp.error().message);
  }
  if (resp->status != 200) {
    cleanup();
    return std::unexpected(s3_.describe_error(fmt::format("pull {}", src), *resp));
  }
  std::string expected = resp->header("x-amz-meta-sha256");
  std::string actual = hash->hex_digest();
  if (verify_sha) {
    if (expected.empty()) {
      cleanup();
      return fail(
          "cannot pull {}: the object has no sha256 metadata, so it cannot be verified (was it "
          "uploaded by rewind? pass --no-verify to download it anyway)",
          src);
    }
    if (expected != actual) {
      cleanup();
      return fail(
          "cannot pull {}: checksum mismatch: the downloaded data has sha256 {} but the object's "
          "metadata says {} (the stored object is corrupt or was replaced; nothing was written)",
          src, actual, expected);
    }
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    cleanup();
    return fail_errno(err, "cannot pull {}: cannot write {}", src, tmp.string());
  }
  fd.reset();
  std::error_code ec;
  std::filesystem::rename(tmp, dest, ec);
  if (ec) {
    cleanup();
    return fail("cannot pull {}: cannot rename into {}: {}", src, dest.string(), ec.message());
  }
  (void)fsync_parent_dir(dest);
  info->size = received;
  return info;
}

}  // namespace rwd
