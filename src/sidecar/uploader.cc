#include "sidecar/uploader.h"

#include <cstdlib>

#include "common/log.h"

namespace rwd::sidecar {

size_t count_spooled(const std::filesystem::path& spool) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(spool, ec)) {
    auto name = de.path().filename().string();
    if (!name.starts_with(".") && name.ends_with(".rwd")) {
      auto json = de.path();
      json.replace_extension(".json");
      n += std::filesystem::exists(json, ec) ? 1 : 0;
    }
  }
  return n;
}

Uploader::Uploader(RecordingsDir dir, std::unique_ptr<Store> store,
                   std::unique_ptr<UploadQueue> queue, RecordingOrigin origin,
                   SidecarMetrics& metrics, UploaderCallbacks callbacks)
    : dir_(std::move(dir)),
      store_(std::move(store)),
      queue_(std::move(queue)),
      origin_(std::move(origin)),
      metrics_(metrics),
      cb_(std::move(callbacks)) {
  store_uri_ = store_->uri("");
  while (!store_uri_.empty() && store_uri_.back() == '/') {
    store_uri_.pop_back();
  }
}

Uploader::~Uploader() {
  if (!stop()) {
    // Only reached when the owner did not exit the process after a failed stop().
    std::_Exit(0);
  }
}

void Uploader::start() {
  thread_ = std::thread([this] { loop(); });
}

void Uploader::wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
    empty_ = false;
  }
  cv_.notify_all();
}

bool Uploader::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    if (in_call_.load()) {
      // A store call cannot be interrupted. The spool keeps its state (multipart parts
      // included), so exiting now loses nothing: the upload resumes after a restart.
      return false;
    }
    thread_.join();
  }
  return true;
}

bool Uploader::drain(std::chrono::steady_clock::time_point deadline) {
  wake();
  std::unique_lock lock(mu_);
  return idle_cv_.wait_until(lock, deadline, [this] { return empty_; });
}

size_t Uploader::spool_depth() const { return count_spooled(dir_.spool()); }

Status Uploader::spool_ready() {
  auto files = dir_.ready_files();
  if (files.empty()) {
    return ok();
  }
  spooling_.store(true);
  Status result = ok();
  for (const auto& f : files) {
    RecordingOrigin o = origin_;
    auto name = parse_recording_name(f.filename().string());
    if (name) {
      o.pid = name->pid;
      o.reason = name->reason;
      o.time = name->time;
    } else {
      o.time = std::chrono::system_clock::now();
    }
    std::string key = recording_key(store_->prefix(), o);
    Metadata meta = recording_metadata(o, "", 0);
    meta.erase("sha256");  // computed by the queue
    meta.erase("size");
    auto id = queue_->enqueue(f, key, meta, UploadQueue::Mode::kMove);
    if (!id) {
      result = std::unexpected(id.error());
      break;
    }
    spdlog::info("saved {} for upload as {}", f.filename().string(), store_->uri(key));
  }
  metrics_.queue_depth = queue_->depth() + dir_.ready_files().size();
  spooling_.store(false);
  if (cb_.changed) {
    cb_.changed();
  }
  return result;
}

Status Uploader::pass() {
  if (auto s = spool_ready(); !s) {
    return s;
  }
  if (queue_->depth() == 0) {
    return ok();
  }
  uploading_.store(true);
  if (cb_.changed) {
    cb_.changed();
  }
  std::string current;
  std::string last_uri = "";
  auto started = std::chrono::steady_clock::now();
  queue_->set_status_callback([&](const QueueStatus& st) {
    if (!st.last_uri.empty() && st.last_uri != last_uri) {
      last_uri = st.last_uri;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                        .count();
      metrics_.observe_upload(secs, st.last_size);
      ++metrics_.recordings_uploaded;
      UploadedRecording u{st.last_uri, st.last_sha256, st.last_size, "", current};
      if (auto name = parse_recording_name(current)) {
        u.reason = name->reason;
      }
      if (cb_.uploaded) {
        cb_.uploaded(u);
      }
    }
    if (st.state == QueueStatus::State::kUploading) {
      current = st.current_key;
      started = std::chrono::steady_clock::now();
    }
    metrics_.queue_depth = st.depth;
  });
  in_call_.store(true);
  auto s = queue_->upload_all(*store_);
  in_call_.store(false);
  queue_->set_status_callback({});
  metrics_.queue_depth = queue_->depth() + dir_.ready_files().size();
  uploading_.store(false);
  if (cb_.changed) {
    cb_.changed();
  }
  return s;
}

void Uploader::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      auto backoff = std::chrono::seconds(std::min(1 << std::min(failures_, 5), 30));
      if (failures_ == 0) {
        cv_.wait(lock, [this] { return wake_ || stop_; });
      } else {
        cv_.wait_for(lock, backoff, [this] { return wake_ || stop_; });
      }
      if (stop_) {
        return;
      }
      wake_ = false;
    }
    auto s = pass();
    bool empty = s && dir_.ready_files().empty() && queue_->depth() == 0;
    if (!s) {
      ++metrics_.upload_failures;
      ++failures_;
      spdlog::warn("upload to {} failed (attempt {}; retrying with backoff): {}", store_uri_,
                   failures_, s.error().message);
      if (cb_.failed) {
        cb_.failed(s.error().message, failures_ == 1);
      }
    } else if (failures_ > 0) {
      failures_ = 0;
      if (cb_.recovered) {
        cb_.recovered();
      }
    }
    {
      std::lock_guard lock(mu_);
      if (empty && !wake_) {
        empty_ = true;
        idle_cv_.notify_all();
      }
    }
  }
}

}  // namespace rwd::sidecar
