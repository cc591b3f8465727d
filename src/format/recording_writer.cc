#include "format/recording_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"

namespace rwd {

namespace {

std::unexpected<Error> file_exists(const std::filesystem::path& path) {
  return fail("cannot create recording {}: file exists (choose another -o path or remove it)",
              path.string());
}

}  // namespace

Status RecordingWriter::check_creatable(const std::filesystem::path& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    return file_exists(path);
  }
  auto dir = path.parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    int err = errno;
    return fail("cannot create recording {}: directory {}: {} (create it or make it writable, "
                "or choose another -o path)",
                path.string(), dir.string(), errno_text(err));
  }
  return ok();
}

Result<RecordingWriter> RecordingWriter::create(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    int err = errno;
    if (err == EEXIST) {
      return file_exists(path);
    }
    return fail_errno(err, "cannot create recording {}", path.string());
  }
  RecordingWriter w(path, std::move(fd));
  std::string header = encode_file_header();
  if (auto s = write_all(w.fd_.get(), header); !s) {
    return std::unexpected(s.error().context(fmt::format("cannot write {}", path.string())));
  }
  w.offset_ = header.size();
  return w;
}

Status RecordingWriter::write_chunk(ChunkType type, std::string_view raw) {
  std::string chunk = make_chunk(type, raw);
  std::lock_guard lock(*mu_);
  if (auto s = write_all(fd_.get(), chunk); !s) {
    return std::unexpected(s.error().context(fmt::format("cannot write {}", path_.string())));
  }
  offset_ += chunk.size();
  return ok();
}

Status RecordingWriter::write_manifest(const nlohmann::json& manifest) {
  return write_chunk(ChunkType::kManifest, manifest.dump());
}

Status RecordingWriter::write_blob_piece(const nlohmann::json& meta, std::string_view piece) {
  std::string meta_text = meta.dump();
  std::string raw;
  raw.reserve(4 + meta_text.size() + piece.size());
  put_u32(raw, static_cast<uint32_t>(meta_text.size()));
  raw.append(meta_text);
  raw.append(piece);
  return write_chunk(ChunkType::kBlob, raw);
}

Status RecordingWriter::add_blob(nlohmann::json meta, std::string_view data) {
  {
    std::lock_guard lock(*mu_);
    meta["id"] = next_blob_id_++;
  }
  meta["size"] = data.size();
  uint64_t off = 0;
  do {
    size_t n = std::min<size_t>(kBlobPieceBytes, data.size() - off);
    meta["offset"] = off;
    if (auto s = write_blob_piece(meta, data.substr(off, n)); !s) {
      return s;
    }
    off += n;
  } while (off < data.size());
  return ok();
}

Status RecordingWriter::add_blob_from_fd(nlohmann::json meta, int fd) {
  // The total size is known only at the end, so pieces carry size -1 except the last,
  // which carries the total; the reader uses the last piece's size.
  {
    std::lock_guard lock(*mu_);
    meta["id"] = next_blob_id_++;
  }
  std::string piece(kBlobPieceBytes, '\0');
  uint64_t off = 0;
  for (;;) {
    size_t filled = 0;
    while (filled < piece.size()) {
      ssize_t n = ::read(fd, piece.data() + filled, piece.size() - filled);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return fail_errno(errno, "cannot read data for {} {}", meta.value("kind", "blob"),
                          meta.value("path", ""));
      }
      if (n == 0) {
        break;
      }
      filled += static_cast<size_t>(n);
    }
    bool last = filled < piece.size();
    meta["offset"] = off;
    meta["size"] = last ? static_cast<int64_t>(off + filled) : -1;
    if (auto s = write_blob_piece(meta, std::string_view(piece.data(), filled)); !s) {
      return s;
    }
    off += filled;
    if (last) {
      return ok();
    }
  }
}

Status RecordingWriter::append_event(const Event& e) {
  bool full = false;
  {
    std::lock_guard lock(*mu_);
    encode_event(e, pending_events_);
    ++events_;
    full = pending_events_.size() >= kEventChunkBytes;
  }
  return full ? flush_events() : ok();
}

Status RecordingWriter::flush_events() {
  std::string run;
  {
    std::lock_guard lock(*mu_);
    run.swap(pending_events_);
  }
  if (run.empty()) {
    return ok();
  }
  return write_chunk(ChunkType::kEvents, run);
}

Status RecordingWriter::finish(const nlohmann::json& trailer) {
  if (auto s = flush_events(); !s) {
    return s;
  }
  if (auto s = write_chunk(ChunkType::kTrailer, trailer.dump()); !s) {
    return s;
  }
  if (::fsync(fd_.get()) != 0) {
    return fail_errno(errno, "cannot fsync {}", path_.string());
  }
  return ok();
}

}  // namespace rwd
