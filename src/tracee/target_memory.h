// TargetMemory: reads a traced process's memory (process_vm_readv, falling back to
// /proc/PID/mem for pages that are mapped but not readable by the target itself).
//
// Only valid while the caller is the tracer or otherwise allowed to read the memory.
//
//   TargetMemory mem(pid);
//   std::string bytes;
//   if (mem.read(addr, len, bytes)) ...   // partial reads return what was readable
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"

namespace rwd {

class TargetMemory {
 public:
  explicit TargetMemory(pid_t pid);

  // Reads up to len bytes at addr into out (resized to what was read). Returns false
  // when nothing could be read.
  bool read(uint64_t addr, uint64_t len, std::string& out);
  // Reads into a caller buffer; returns the number of bytes read.
  size_t read_into(uint64_t addr, void* buf, size_t len);
  // Reads a NUL-terminated string of at most max bytes (without the NUL).
  bool read_string(uint64_t addr, size_t max, std::string& out);

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
  UniqueFd mem_fd_;
};

}  // namespace rwd
