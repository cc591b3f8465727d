// ReplaySession::clone() on a real recording: a clone taken mid-run (threads alive,
// some inside syscalls) must replay the rest of the log exactly as its original does.
// Needs a recording, named by RWD_CLONE_TEST_RECORDING (skipped without it), since
// making one here would need the recorder and a target program.
#include "replay/replay_session.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "format/recording_reader.h"
#include "replay/replay_image.h"

namespace rwd {
namespace {

class CloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("RWD_CLONE_TEST_RECORDING");
    if (path == nullptr || *path == '\0') {
      FAIL() << "set RWD_CLONE_TEST_RECORDING to a .rwd file";
    }
    // The session waits for its threads with sigtimedwait(SIGCHLD), as rewind does.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, nullptr);
    auto r = RecordingReader::open(path);
    ASSERT_TRUE(r) << r.error().message;
    reader_ = std::make_unique<RecordingReader>(std::move(*r));
    auto img = ReplayImage::load(*reader_);
    ASSERT_TRUE(img) << img.error().message;
    image_ = std::make_unique<ReplayImage>(std::move(*img));
  }

  std::unique_ptr<RecordingReader> reader_;
  std::unique_ptr<ReplayImage> image_;
};

// Runs a session to its end and says how it ended.
std::string finish(ReplaySession& s) {
  auto r = s.run(RunRequest{});
  if (!r) {
    return "error: " + r.error().message;
  }
  return s.stats().end + " after " + std::to_string(s.events_done());
}

// Needs a real recording, which unit tests do not make: tests/integration/
// test_time_travel.py records the demo service and runs this test on it.
TEST_F(CloneTest, DISABLED_ClonesEveryFewEventsReplayToTheSameEnd) {
  auto s = ReplaySession::start(*reader_, *image_, {});
  ASSERT_TRUE(s) << s.error().message;
  std::vector<std::unique_ptr<ReplaySession>> clones;
  while (!(*s)->at_end()) {
    auto c = (*s)->clone();
    ASSERT_TRUE(c) << "at event " << (*s)->events_done() << ": " << c.error().message;
    clones.push_back(std::move(*c));
    auto r = (*s)->run(RunRequest{.until_event = (*s)->events_done() + 10});
    ASSERT_TRUE(r) << r.error().message;
  }
  std::string want = (*s)->stats().end + " after " + std::to_string((*s)->events_done());
  for (size_t i = 0; i < clones.size(); ++i) {
    // A clone of a clone too, as going back twice to one checkpoint does.
    auto again = clones[i]->clone();
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(finish(*clones[i]), want) << "clone " << i;
    EXPECT_EQ(finish(**again), want) << "clone of clone " << i;
  }
}

}  // namespace
}  // namespace rwd
