#include "store/queue_entry.h"

#include <nlohmann/json.hpp>

#include "common/files.h"

namespace rwd {

std::string queue_entry_to_json(const QueueEntry& e) {
  nlohmann::json j;
  j["key"] = e.key;
  j["metadata"] = e.metadata;
  if (!e.upload.upload_id.empty()) {
    nlohmann::json parts = nlohmann::json::array();
    for (const auto& p : e.upload.parts) {
      parts.push_back({{"number", p.number}, {"etag", p.etag}, {"sha256", p.checksum_sha256}});
    }
    j["upload"] = {{"upload_id", e.upload.upload_id},
                   {"part_size", e.upload.part_size},
                   {"parts", std::move(parts)}};
  }
  return j.dump(2) + "\n";
}

Result<QueueEntry> queue_entry_from_json(std::string_view text, std::string_view what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail("queue state {} is not valid JSON", what);
  }
  QueueEntry e;
  try {
    e.key = j.at("key").get<std::string>();
    e.metadata = j.at("metadata").get<Metadata>();
    if (j.contains("upload")) {
      const auto& u = j.at("upload");
      e.upload.upload_id = u.at("upload_id").get<std::string>();
      e.upload.part_size = u.at("part_size").get<uint64_t>();
      for (const auto& p : u.at("parts")) {
        e.upload.parts.push_back({p.at("number").get<int>(), p.at("etag").get<std::string>(),
                                  p.value("sha256", std::string())});
      }
    }
  } catch (const nlohmann::json::exception& ex) {
    return fail("queue state {} is malformed: {}", what, ex.what());
  }
  if (e.key.empty()) {
    return fail("queue state {} has an empty key", what);
  }
  return e;
}

Result<QueueEntry> read_queue_entry(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) {
    return std::unexpected(text.error());
  }
  return queue_entry_from_json(*text, path.string());
}

Status write_queue_entry(const std::filesystem::path& path, const QueueEntry& entry) {
  return write_file_atomic(path, queue_entry_to_json(entry), 0600);
}

}  // namespace rwd
