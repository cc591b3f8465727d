#include "format/recording_reader.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "common/files.h"

namespace rwd {

namespace {

// Splits a blob chunk's payload into its metadata and data.
Result<std::pair<nlohmann::json, std::string_view>> split_blob(std::string_view raw) {
  ByteReader in(raw);
  auto meta_len = in.u32();
  if (!meta_len) {
    return fail("blob chunk too short for its metadata length");
  }
  auto meta_text = in.bytes(*meta_len);
  if (!meta_text) {
    return fail("blob metadata is truncated");
  }
  auto meta = nlohmann::json::parse(*meta_text, nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("kind") ||
      !meta["kind"].is_string() || !meta.contains("id") || !meta["id"].is_number_unsigned() ||
      !meta.contains("offset") || !meta["offset"].is_number_unsigned() || !meta.contains("size") ||
      !meta["size"].is_number_integer()) {
    return fail("blob metadata is not valid JSON with kind, id, offset and size");
  }
  return std::make_pair(std::move(meta), raw.substr(4 + *meta_len));
}

}  // namespace

Result<RecordingReader> RecordingReader::open(const std::filesystem::path& path) {
  RecordingReader r;
  r.path_ = path;
  r.fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!r.fd_) {
    return fail_errno(errno, "cannot open recording {}", path.string());
  }
  struct stat st{};
  if (::fstat(r.fd_.get(), &st) != 0) {
    return fail_errno(errno, "cannot stat recording {}", path.string());
  }
  if (!S_ISREG(st.st_mode)) {
    return fail("cannot open recording {}: not a regular file", path.string());
  }
  r.file_size_ = static_cast<uint64_t>(st.st_size);
  if (auto s = r.scan(); !s) {
    return std::unexpected(s.error().context(fmt::format("cannot read recording {}", path.string())));
  }
  return r;
}

Result<std::string> RecordingReader::read_payload(uint64_t file_offset,
                                                  const ChunkHeader& h) const {
  std::string stored(h.stored_size, '\0');
  auto s = pread_exact(fd_.get(),
                       std::span(reinterpret_cast<uint8_t*>(stored.data()), stored.size()),
                       file_offset + kChunkHeaderSize);
  if (!s) {
    return std::unexpected(s.error());
  }
  return open_chunk_payload(h, stored);
}

Status RecordingReader::scan() {
  std::string header(kFileHeaderSize, '\0');
  if (file_size_ < kFileHeaderSize) {
    return fail("file is {} bytes, too short to be a rewind recording", file_size_);
  }
  if (auto s = pread_exact(fd_.get(), std::span(reinterpret_cast<uint8_t*>(header.data()),
                                                header.size()), 0);
      !s) {
    return s;
  }
  if (auto s = check_file_header(header); !s) {
    return s;
  }
  bool have_manifest = false;
  std::map<uint64_t, size_t> blob_index;  // id -> position in blobs_
  uint64_t off = kFileHeaderSize;
  while (off < file_size_) {
    auto stop = [&](std::string why) {
      truncation_ = fmt::format("recording is cut short at byte {} of {}: {}", off, file_size_,
                                why);
    };
    if (file_size_ - off < kChunkHeaderSize) {
      stop("incomplete chunk header");
      break;
    }
    std::string hb(kChunkHeaderSize, '\0');
    if (auto s = pread_exact(fd_.get(), std::span(reinterpret_cast<uint8_t*>(hb.data()), hb.size()),
                             off);
        !s) {
      return s;
    }
    auto h = decode_chunk_header(hb);
    if (!h) {
      stop(h.error().message);
      break;
    }
    if (h->stored_size > kMaxChunkSize || h->raw_size > kMaxChunkSize) {
      stop(fmt::format("chunk of {} bytes exceeds the {} byte limit", h->stored_size,
                       kMaxChunkSize));
      break;
    }
    if (h->stored_size > file_size_ - off - kChunkHeaderSize) {
      stop("incomplete chunk payload");
      break;
    }
    if (h->type == ChunkType::kEvents) {
      // Events are decoded lazily; only the payload checksum is verified at use.
      event_chunks_.emplace_back(off, *h);
    } else {
      auto payload = read_payload(off, *h);
      if (!payload) {
        stop(payload.error().message);
        break;
      }
      if (h->type == ChunkType::kManifest || h->type == ChunkType::kTrailer) {
        auto j = nlohmann::json::parse(*payload, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          stop("manifest chunk is not a JSON object");
          break;
        }
        if (h->type == ChunkType::kManifest && have_manifest) {
          stop("second manifest chunk");
          break;
        }
        have_manifest = have_manifest || h->type == ChunkType::kManifest;
        finished_ = finished_ || h->type == ChunkType::kTrailer;
        for (auto& [k, v] : j.items()) {
          manifest_[k] = v;
        }
      } else {
        auto blob = split_blob(*payload);
        if (!blob) {
          stop(blob.error().message);
          break;
        }
        auto& [meta, data] = *blob;
        uint64_t id = meta["id"].get<uint64_t>();
        auto it = blob_index.find(id);
        if (it == blob_index.end()) {
          BlobInfo info;
          info.id = id;
          info.kind = meta["kind"].get<std::string>();
          info.meta = meta;
          it = blob_index.emplace(id, blobs_.size()).first;
          blobs_.push_back(std::move(info));
        }
        auto& info = blobs_[it->second];
        int64_t size = meta["size"].get<int64_t>();
        if (size >= 0) {
          info.size = static_cast<uint64_t>(size);
        }
        info.pieces.push_back({off, *h, meta["offset"].get<uint64_t>(), data.size()});
      }
    }
    off += kChunkHeaderSize + h->stored_size;
  }
  if (!have_manifest) {
    return fail("no manifest chunk (the file holds no usable recording{})",
                truncation_ ? "; " + *truncation_ : "");
  }
  for (auto& b : blobs_) {
    std::sort(b.pieces.begin(), b.pieces.end(),
              [](const BlobPiece& a, const BlobPiece& c) { return a.offset < c.offset; });
    uint64_t expect = 0;
    bool contiguous = true;
    for (const auto& p : b.pieces) {
      contiguous = contiguous && p.offset == expect;
      expect = p.offset + p.length;
    }
    b.complete = contiguous && expect == b.size;
  }
  return ok();
}

const BlobInfo* RecordingReader::find_blob(std::string_view kind, std::string_view key,
                                           std::string_view value) const {
  for (const auto& b : blobs_) {
    if (b.kind != kind) {
      continue;
    }
    if (key.empty()) {
      return &b;
    }
    auto it = b.meta.find(key);
    if (it != b.meta.end() && it->is_string() && it->get<std::string>() == value) {
      return &b;
    }
  }
  return nullptr;
}

Result<std::string> RecordingReader::read_blob(const BlobInfo& blob) const {
  if (!blob.complete) {
    return fail("{} blob {} is incomplete (the recording was cut short while writing it)",
                blob.kind, blob.id);
  }
  std::string out;
  out.reserve(blob.size);
  for (const auto& p : blob.pieces) {
    auto payload = read_payload(p.file_offset, p.header);
    if (!payload) {
      return std::unexpected(payload.error());
    }
    auto split = split_blob(*payload);
    if (!split) {
      return std::unexpected(split.error());
    }
    out.append(split->second);
  }
  return out;
}

Status RecordingReader::copy_blob_to_fd(const BlobInfo& blob, int fd) const {
  if (!blob.complete) {
    return fail("{} blob {} is incomplete (the recording was cut short while writing it)",
                blob.kind, blob.id);
  }
  for (const auto& p : blob.pieces) {
    auto payload = read_payload(p.file_offset, p.header);
    if (!payload) {
      return std::unexpected(payload.error());
    }
    auto split = split_blob(*payload);
    if (!split) {
      return std::unexpected(split.error());
    }
    if (auto s = write_all(fd, split->second); !s) {
      return s;
    }
  }
  return ok();
}

Result<std::vector<Event>> RecordingReader::read_event_chunk(size_t i) const {
  if (i >= event_chunks_.size()) {
    return fail("event chunk {} does not exist (the recording has {})", i, event_chunks_.size());
  }
  const auto& [off, h] = event_chunks_[i];
  auto payload = read_payload(off, h);
  if (!payload) {
    return std::unexpected(payload.error().context(
        fmt::format("event chunk at byte {} is damaged", off)));
  }
  std::vector<Event> events;
  ByteReader in(*payload);
  while (!in.empty()) {
    auto e = decode_event(in);
    if (!e) {
      return std::unexpected(e.error().context(
          fmt::format("event chunk at byte {} is damaged", off)));
    }
    events.push_back(std::move(*e));
  }
  return events;
}

Status RecordingReader::for_each_event(const std::function<bool(const Event&)>& fn) const {
  for (size_t i = 0; i < event_chunks_.size(); ++i) {
    auto events = read_event_chunk(i);
    if (!events) {
      return std::unexpected(events.error());
    }
    for (const auto& e : *events) {
      if (!fn(e)) {
        return ok();
      }
    }
  }
  return ok();
}

}  // namespace rwd
