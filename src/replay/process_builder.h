// Builds a fresh process that is the recorded one at the start of the recording: every
// mapping at its address with its contents (saved memory, bundled files, the patched
// vDSO), signal actions, and every thread with its registers, signal mask and alternate
// signal stack.
//
// The process is a fork of rewind, traced from birth (and killed if rewind dies), that
// rewind empties and refills by running syscalls inside it. When build() returns, every
// thread sits in a ptrace-stop with the snapshot's registers.
//
//   auto proc = build_replay_process(reader, image);
//   proc->threads[i]   // replay tid of image.threads[i]
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "format/recording_reader.h"
#include "replay/replay_image.h"

namespace rwd {

struct BuiltProcess {
  pid_t pid = 0;
  std::vector<pid_t> threads;  // same order as ReplayImage::threads
  std::vector<std::string> warnings;
};

Result<BuiltProcess> build_replay_process(const RecordingReader& reader,
                                          const ReplayImage& image);

// The glibc struct pthread offset of the thread's tid, which the kernel clears when the
// thread exits (CLONE_CHILD_CLEARTID). Used to restore clear_child_tid for threads
// that existed before the recording started.
inline constexpr uint64_t kGlibcTidOffset = 0x2d0;

}  // namespace rwd
