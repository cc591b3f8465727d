#include "record/final_core.h"

namespace rwd {

Status write_final_core(pid_t, const std::vector<pid_t>&, const siginfo_t*, const std::string&,
                        RecordingWriter&) {
  return fail("the ELF core writer is not built yet");
}

}  // namespace rwd
