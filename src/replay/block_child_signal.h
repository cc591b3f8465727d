// BlockChildSignal: SIGCHLD blocked in the calling thread for as long as a replay runs,
// so that ReplaySession waits for its threads' stops with sigtimedwait instead of
// polling. Use one around every use of a session (rewind replay, the gdb server).
//
//   BlockChildSignal blocked;
//   auto session = ReplaySession::start(reader, image, options);
#pragma once

#include <signal.h>

namespace rwd {

class BlockChildSignal {
 public:
  BlockChildSignal() {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &chld, &old_);
  }
  ~BlockChildSignal() { ::sigprocmask(SIG_SETMASK, &old_, nullptr); }
  BlockChildSignal(const BlockChildSignal&) = delete;
  BlockChildSignal& operator=(const BlockChildSignal&) = delete;

 private:
  sigset_t old_{};
};

}  // namespace rwd
