#include "tracee/target_memory.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace rwd {

TargetMemory::TargetMemory(pid_t pid) : pid_(pid) {
  mem_fd_ = UniqueFd(::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC));
}

size_t TargetMemory::read_into(uint64_t addr, void* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    struct iovec local{static_cast<char*>(buf) + done, len - done};
    struct iovec remote{reinterpret_cast<void*>(addr + done), len - done};
    ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    // Not readable through the target's own permissions (e.g. PROT_NONE or a page
    // boundary into something odd): /proc/PID/mem reads with ptrace rights.
    if (!mem_fd_) {
      break;
    }
    ssize_t m = ::pread(mem_fd_.get(), static_cast<char*>(buf) + done, len - done,
                        static_cast<off_t>(addr + done));
    if (m <= 0) {
      break;
    }
    done += static_cast<size_t>(m);
  }
  return done;
}

bool TargetMemory::read(uint64_t addr, uint64_t len, std::string& out) {
  out.resize(len);
  size_t n = read_into(addr, out.data(), len);
  out.resize(n);
  return n > 0 || len == 0;
}

bool TargetMemory::read_string(uint64_t addr, size_t max, std::string& out) {
  out.clear();
  char chunk[256];
  while (out.size() < max) {
    // Read up to the next page boundary at most, so a string near the end of a
    // mapping is still read.
    size_t page_left = size_t{4096} - ((addr + out.size()) & 4095);
    size_t want = std::min<size_t>({sizeof chunk, page_left, max - out.size()});
    size_t n = read_into(addr + out.size(), chunk, want);
    if (n == 0) {
      return !out.empty();
    }
    auto* nul = static_cast<char*>(std::memchr(chunk, 0, n));
    if (nul) {
      out.append(chunk, static_cast<size_t>(nul - chunk));
      return true;
    }
    out.append(chunk, n);
  }
  return true;
}

}  // namespace rwd
