#include "record/final_core.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.h"
#include "common/unique_fd.h"
#include "record/core_collector.h"
#include "record/elf_core_writer.h"

namespace rwd {

Status write_final_core(pid_t pid, const std::vector<pid_t>& tids, const siginfo_t* siginfo,
                        const std::string& reason, RecordingWriter& writer) {
  if (tids.empty()) {
    return fail("no thread of pid {} is left to save", pid);
  }
  auto proc = collect_core_process(pid);
  if (!proc) {
    return std::unexpected(proc.error());
  }
  std::vector<CoreThread> threads;
  for (size_t i = 0; i < tids.size(); ++i) {
    auto t = collect_core_thread(tids[i], i == 0 ? siginfo : nullptr);
    if (!t) {
      spdlog::debug("thread {} left out of the final core: {}", tids[i], t.error().message);
      continue;
    }
    threads.push_back(std::move(*t));
  }
  if (threads.empty()) {
    return fail("the registers of pid {}'s threads could not be read", pid);
  }
  auto maps = read_core_mappings(pid);
  if (!maps) {
    return std::unexpected(maps.error());
  }
  auto mem = proc_mem_reader(pid);
  if (!mem) {
    return std::unexpected(mem.error());
  }
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
  if (auto s = write_elf_core(tmp.get(), *proc, threads, *maps, *mem); !s) {
    return s;
  }
  ::lseek(tmp.get(), 0, SEEK_SET);
  nlohmann::json meta = {{"kind", "core"}, {"name", "final"}, {"reason", reason},
                         {"threads", threads.size()}};
  return writer.add_blob_from_fd(meta, tmp.get());
}

}  // namespace rwd
