#include "replay/replayer.h"

#include "format/recording_reader.h"
#include "replay/block_child_signal.h"
#include "replay/final_state_check.h"
#include "replay/replay_image.h"

namespace rwd {

Result<ReplayResult> replay_recording(const std::filesystem::path& path,
                                      const ReplayOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  auto reader = RecordingReader::open(path);
  if (!reader) {
    return std::unexpected(reader.error());
  }
  if (reader->truncation() && options.verify) {
    return fail("{}; without its final state it cannot be verified (replay it without "
                "--verify to re-run what it holds)",
                *reader->truncation());
  }
  auto image = ReplayImage::load(*reader);
  if (!image) {
    return std::unexpected(image.error());
  }
  BlockChildSignal blocked;
  auto session = ReplaySession::start(*reader, *image, options);
  if (!session) {
    return std::unexpected(session.error());
  }
  ReplaySession& s = **session;
  RunRequest request;
  request.until_event = options.until;
  auto ran = s.run(request);
  ReplayResult result;
  static_cast<ReplayStats&>(result) = s.stats();
  if (!ran && !s.diverged()) {
    return std::unexpected(ran.error());
  }
  if (ran && ran->stop == RunStop::kEventLimit) {
    result.end = "--until";
  }
  if (auto total = s.total_events(); total) {
    result.total_events = *total;
  } else if (!result.divergence) {
    return fail("the event log is damaged after event {}: {}", result.events,
                total.error().message);
  }
  if (options.verify && !result.divergence && result.end != "--until") {
    auto check = check_final_state(s);
    result.verified = check.verified;
    result.difference = check.difference;
    result.dead_stack_bytes = check.dead_stack_bytes;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace rwd
