#include "tracee/robust_list.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace rwd {

std::vector<uint64_t> robust_futex_words(pid_t tid, TargetMemory& mem) {
  std::vector<uint64_t> words;
  uint64_t head = 0;
  size_t len = 0;
  if (::syscall(SYS_get_robust_list, tid, &head, &len) != 0 || head == 0) {
    return words;
  }
  struct {
    uint64_t next;
    int64_t futex_offset;
    uint64_t op_pending;
  } list{};
  if (mem.read_into(head, &list, sizeof list) != sizeof list) {
    return words;
  }
  constexpr int kMaxEntries = 2048;  // the kernel's ROBUST_LIST_LIMIT
  constexpr uint64_t kPiBit = 1;
  uint64_t entry = list.next & ~kPiBit;
  for (int n = 0; entry != head && entry != 0 && n < kMaxEntries; ++n) {
    words.push_back(entry + list.futex_offset);
    uint64_t next = 0;
    if (mem.read_into(entry, &next, sizeof next) != sizeof next) {
      break;
    }
    entry = next & ~kPiBit;
  }
  if ((list.op_pending & ~kPiBit) != 0) {
    words.push_back((list.op_pending & ~kPiBit) + list.futex_offset);
  }
  return words;
}

}  // namespace rwd
