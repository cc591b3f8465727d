#include "replay/verification.h"

#include <ctime>

#include "common/files.h"
#include "common/sha256.h"

namespace rwd {

namespace {

std::string now_iso() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::filesystem::path verification_path(const std::filesystem::path& recording) {
  return recording.string() + ".verify.json";
}

Status write_verification(const std::filesystem::path& recording, const ReplayResult& result) {
  auto digest = sha256_file(recording);
  if (!digest) {
    return std::unexpected(digest.error());
  }
  std::error_code ec;
  auto size = std::filesystem::file_size(recording, ec);
  nlohmann::json j = {{"verified", result.verified},
                      {"time", now_iso()},
                      {"recording_sha256", *digest},
                      {"recording_size", ec ? 0 : size},
                      {"events", result.events},
                      {"end", result.end},
                      {"replay_seconds", result.seconds}};
  if (!result.difference.empty()) {
    j["difference"] = result.difference;
  }
  if (result.divergence) {
    j["divergence"] = {{"event", result.divergence->event_index},
                       {"tid", result.divergence->tid},
                       {"expected", result.divergence->expected},
                       {"actual", result.divergence->actual}};
  }
  return write_file_atomic(verification_path(recording), j.dump(2) + "\n", 0600);
}

std::optional<nlohmann::json> read_verification(const std::filesystem::path& recording) {
  auto text = read_file(verification_path(recording));
  if (!text) {
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  std::error_code ec;
  auto size = std::filesystem::file_size(recording, ec);
  if (ec || j.value("recording_size", uint64_t{0}) != size) {
    return std::nullopt;
  }
  auto digest = sha256_file(recording);
  if (!digest || j.value("recording_sha256", std::string()) != *digest) {
    return std::nullopt;
  }
  return j;
}

}  // namespace rwd
