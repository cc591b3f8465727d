#include "record/final_core.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"
#include "record/core_collector.h"

namespace rwd {

Status write_final_core(pid_t pid, const std::vector<pid_t>& tids, const siginfo_t* siginfo,
                        const std::string& reason, RecordingWriter& writer) {
  // The core is staged in an unnamed file beside the recording (it can be large), then
  // streamed into it.
  auto dir = writer.path().parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  UniqueFd tmp(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!tmp) {
    return fail_errno(errno, "cannot create a temporary file in {} for the final core",
                      dir.string());
  }
  if (auto s = write_process_core(tmp.get(), pid, tids, siginfo); !s) {
    return s;
  }
  ::lseek(tmp.get(), 0, SEEK_SET);
  nlohmann::json meta = {{"kind", "core"}, {"name", "final"}, {"reason", reason},
                         {"threads", tids.size()}};
  return writer.add_blob_from_fd(meta, tmp.get());
}

}  // namespace rwd
