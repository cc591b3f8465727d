// The result of `rewind replay --verify`, kept next to the recording as
// `<recording>.verify.json` so that `rewind info` can show whether (and when) a
// recording replayed to its recorded final state. The record names the recording's
// size and SHA-256; a record that does not match the file beside it is ignored.
//
//   write_verification("app.rwd", result);
//   if (auto v = read_verification("app.rwd")) fmt::print("{}\n", v->dump());
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>

#include "common/error.h"
#include "replay/replayer.h"

namespace rwd {

std::filesystem::path verification_path(const std::filesystem::path& recording);

Status write_verification(const std::filesystem::path& recording, const ReplayResult& result);

// The record for this exact file, or nullopt (none, unreadable, or for other contents).
std::optional<nlohmann::json> read_verification(const std::filesystem::path& recording);

}  // namespace rwd
