#include "store/upload_queue.h"

#include <unistd.h>

#include <algorithm>
#include <system_error>

#include "common/files.h"
#include "common/log.h"
#include "common/sha256.h"
#include "store/file_store.h"

namespace rwd {
namespace {

std::filesystem::path data_path(const std::filesystem::path& spool, const std::string& id) {
  return spool / (id + ".rwd");
}
std::filesystem::path state_path(const std::filesystem::path& spool, const std::string& id) {
  return spool / (id + ".json");
}

std::string space_hint(int err, const std::filesystem::path& spool) {
  if (err == ENOSPC || err == EDQUOT) {
    return fmt::format(" (free space in {} or give the spool a larger volume)", spool.string());
  }
  return "";
}

}  // namespace

std::string_view to_string(QueueStatus::State s) {
  switch (s) {
    case QueueStatus::State::kIdle:
      return "idle";
    case QueueStatus::State::kUploading:
      return "uploading";
    case QueueStatus::State::kError:
      return "error";
  }
  return "?";
}

Result<std::unique_ptr<UploadQueue>> UploadQueue::open(const std::filesystem::path& spool) {
  std::error_code ec;
  std::filesystem::create_directories(spool, ec);
  if (ec) {
    return fail("cannot use spool directory {}: {} (check the path and its permissions)",
                spool.string(), ec.message());
  }
  // Leftovers of an interrupted enqueue: hidden temporaries and state files whose
  // recording never got renamed in. Neither was ever a queued recording.
  for (const auto& de : std::filesystem::directory_iterator(spool, ec)) {
    std::string name = de.path().filename().string();
    if (name.starts_with(".") && name.find(".partial-") != std::string::npos) {
      std::filesystem::remove(de.path(), ec);
    } else if (name.ends_with(".json")) {
      std::string id = name.substr(0, name.size() - 5);
      if (!std::filesystem::exists(data_path(spool, id))) {
        std::filesystem::remove(de.path(), ec);
      }
    }
  }
  std::unique_ptr<UploadQueue> q(new UploadQueue(spool));
  q->status_.depth = q->depth();
  return q;
}

std::vector<std::string> UploadQueue::ids() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(spool_, ec)) {
    std::string name = de.path().filename().string();
    if (!name.starts_with(".") && name.ends_with(".rwd")) {
      std::string id = name.substr(0, name.size() - 4);
      if (std::filesystem::exists(state_path(spool_, id))) {
        out.push_back(std::move(id));
      }
    }
  }
  std::sort(out.begin(), out.end());  // ids start with a UTC timestamp: oldest first
  return out;
}

size_t UploadQueue::depth() const { return ids().size(); }

Result<QueueEntry> UploadQueue::entry(const std::string& id) const {
  return read_queue_entry(state_path(spool_, id));
}

Result<std::string> UploadQueue::enqueue(const std::filesystem::path& file, const std::string& key,
                                         const Metadata& metadata, Mode mode) {
  std::string what = fmt::format("cannot queue {} in spool {}", file.string(), spool_.string());
  std::string id = fmt::format("{}-{}", utc_stamp(std::chrono::system_clock::now()),
                               sha256_hex(key).substr(0, 16));
  auto dest = data_path(spool_, id);
  if (std::filesystem::exists(dest)) {
    return fail("{}: it is already queued as {}", what, id);
  }
  QueueEntry e;
  e.key = key;
  e.metadata = metadata;
  auto write_state = [&](const std::string& sha, uint64_t size) -> Status {
    if (e.metadata.contains("sha256") && e.metadata["sha256"] != sha) {
      return fail("{}: its sha256 is {} but the caller expected {}", what, sha,
                  e.metadata["sha256"]);
    }
    e.metadata["sha256"] = sha;
    e.metadata["size"] = std::to_string(size);
    if (auto s = write_queue_entry(state_path(spool_, id), e); !s) {
      std::error_code ec;
      std::filesystem::remove(state_path(spool_, id), ec);
      return fail("{}: {}{}; nothing was queued", what, s.error().message,
                  space_hint(s.error().sys_errno, spool_));
    }
    return ok();
  };
  auto drop_state = [&] {
    std::error_code ec;
    std::filesystem::remove(state_path(spool_, id), ec);
  };
  uint64_t size = 0;
  std::string sha;
  bool moved = false;
  if (mode == Mode::kMove) {
    // State first, then one rename of the complete file: a crash in between leaves the
    // file where it was and an orphan state file that open() removes.
    auto d = digest_file(file);
    if (!d) {
      return fail("{}: {}", what, d.error().message);
    }
    if (auto s = write_state(d->sha256, d->size); !s) {
      return std::unexpected(s.error());
    }
    if (::rename(file.c_str(), dest.c_str()) == 0) {
      moved = true;
      sha = d->sha256;
      size = d->size;
    } else if (errno != EXDEV) {
      int err = errno;
      drop_state();
      return fail_errno(err, "{}", what);
    }
  }
  if (!moved) {
    auto copied = copy_to_temp(file, dest, {});
    if (!copied) {
      drop_state();
      return fail("{}: {}{}; nothing was queued", what, copied.error().message,
                  space_hint(copied.error().sys_errno, spool_));
    }
    if (auto s = write_state(copied->sha256, copied->size); !s) {
      ::unlink(copied->temp.c_str());
      return std::unexpected(s.error());
    }
    if (::rename(copied->temp.c_str(), dest.c_str()) != 0) {
      int err = errno;
      ::unlink(copied->temp.c_str());
      drop_state();
      return fail_errno(err, "{}", what);
    }
    sha = copied->sha256;
    size = copied->size;
  }
  if (auto s = fsync_parent_dir(dest); !s) {
    spdlog::warn("{}", s.error().message);
  }
  if (moved) {
    (void)fsync_parent_dir(file);
  }
  spdlog::debug("queued {} as {} ({} bytes, sha256 {})", file.string(), id, size, sha);
  status_.depth = depth();
  return id;
}

void UploadQueue::report() {
  if (status_cb_) {
    status_cb_(status_);
  }
}

Status UploadQueue::upload_one(Store& store, const std::string& id, const ProgressFn& progress) {
  auto state_file = state_path(spool_, id);
  auto e = read_queue_entry(state_file);
  if (!e) {
    return fail("cannot upload queued recording {}: {} (remove {} and its .rwd to drop it)", id,
                e.error().message, state_file.string());
  }
  auto file = data_path(spool_, id);
  status_.state = QueueStatus::State::kUploading;
  status_.current_key = e->key;
  report();

  // No "is it already stored?" check first: the key is fixed, so uploading again after a
  // crash overwrites with the same bytes, and an interrupted multipart upload finds its
  // completed object through its resume state.
  PutOptions opts;
  opts.metadata = e->metadata;
  opts.progress = progress;
  opts.resume = e->upload;
  QueueEntry persisted = *e;
  opts.on_state = [&](const MultipartState& st) {
    persisted.upload = st;
    if (auto s = write_queue_entry(state_file, persisted); !s) {
      // Losing resume state costs a re-upload, never data; keep going.
      spdlog::warn("cannot save upload progress: {}", s.error().message);
    }
  };
  auto info = store.put(file, e->key, opts);
  if (!info) {
    return std::unexpected(info.error());
  }
  // Confirmed by the store: now, and only now, the local copy may go.
  std::error_code ec;
  std::filesystem::remove(file, ec);
  std::filesystem::remove(state_file, ec);
  (void)fsync_parent_dir(file);
  status_.last_uri = store.uri(e->key);
  status_.last_sha256 = e->metadata["sha256"];
  status_.last_size = info->size;
  spdlog::info("uploaded {} ({} bytes, sha256 {})", status_.last_uri, info->size,
               status_.last_sha256);
  return ok();
}

Status UploadQueue::upload_all(Store& store, const ProgressFn& progress) {
  for (;;) {
    auto pending = ids();
    status_.depth = pending.size();
    if (pending.empty()) {
      status_.state = QueueStatus::State::kIdle;
      status_.current_key.clear();
      status_.last_error.clear();
      report();
      return ok();
    }
    if (auto s = upload_one(store, pending.front(), progress); !s) {
      status_.state = QueueStatus::State::kError;
      status_.last_error = s.error().message;
      status_.depth = depth();
      report();
      return s;
    }
  }
}

}  // namespace rwd
