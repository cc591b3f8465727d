#include "replay/final_state_check.h"

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "replay/register_diff.h"

namespace rwd {

FinalStateCheck check_final_state(const ReplaySession& session) {
  FinalStateCheck check;
  const ReplayImage& image = session.image();
  if (!image.final_state) {
    check.difference = "the recording has no final state to compare with";
    return check;
  }
  const FinalState& fs = *image.final_state;
  for (const auto& ft : fs.threads) {
    if (session.real_tid(static_cast<uint32_t>(ft.tid)) == 0) {
      check.difference = fmt::format("thread {} exists in the recorded final state but not in "
                                       "the replay",
                                       ft.tid);
      return check;
    }
    auto regs = session.registers(static_cast<uint32_t>(ft.tid));
    if (!regs) {
      check.difference = regs.error().message;
      return check;
    }
    if (auto d = regs_difference(ft.regs, *regs, false); !d.empty()) {
      check.difference = fmt::format("thread {}: {}", ft.tid, d);
      return check;
    }
  }
  // The stack below each thread's stack pointer and its red zone (at its exit, for a
  // thread that has exited) is dead by the ABI:
  // a signal frame may be written there at any time, and the frames left there hold
  // the CPU's record of which vector registers were in use (XSTATE_BV), which is not
  // part of the program's state. It is not compared.
  //
  // Nor are the data page of rewind's orphan guard and the pages of its rdtsc stubs:
  // rewind's own bookkeeping, written by the recorder (tracee/orphan_guard.h,
  // tracee/rdtsc_patch.h).
  struct Skipped {
    uint64_t lo, hi;
    bool stack;
  };
  std::vector<Skipped> dead;
  std::vector<uint64_t> stack_pointers = session.exited_stack_pointers();
  for (const auto& ft : fs.threads) {
    stack_pointers.push_back(ft.regs.rsp);
  }
  for (uint64_t rsp : stack_pointers) {
    for (const auto& seg : fs.segments) {
      if (rsp > seg.vaddr && rsp <= seg.vaddr + seg.size) {
        dead.push_back({seg.vaddr, rsp > 128 ? rsp - 128 : 0, true});
      }
    }
  }
  if (image.orphan_guard_size != 0) {
    dead.push_back({image.orphan_guard, image.orphan_guard + image.orphan_guard_size, false});
  }
  for (auto [lo, hi] : session.stub_pages()) {
    dead.push_back({lo, hi, false});
  }
  auto hex = [](std::string_view b) {
    std::string out;
    for (char c : b.substr(0, 16)) {
      out += fmt::format("{:02x}", static_cast<uint8_t>(c));
    }
    return out;
  };
  std::string mine;
  for (const auto& seg : fs.segments) {
    if (!seg.writable || seg.size == 0) {
      continue;
    }
    // The parts of the segment to compare: all of it but dead stack.
    std::vector<std::pair<uint64_t, uint64_t>> parts = {{seg.vaddr, seg.vaddr + seg.size}};
    for (auto [lo, hi, stack] : dead) {
      std::vector<std::pair<uint64_t, uint64_t>> next;
      for (auto [a, b] : parts) {
        if (hi <= a || lo >= b) {
          next.emplace_back(a, b);
          continue;
        }
        if (a < lo) next.emplace_back(a, lo);
        if (hi < b) next.emplace_back(hi, b);
        if (stack) {
          check.dead_stack_bytes += std::min(b, hi) - std::max(a, lo);
        }
      }
      parts = std::move(next);
    }
    constexpr uint64_t kChunk = 1 << 20;
    for (auto [from, to] : parts) {
      for (uint64_t addr = from; addr < to; addr += kChunk) {
        uint64_t n = std::min(kChunk, to - addr);
        auto read = session.read_memory(addr, n);
        if (read) {
          mine = std::move(*read);
        }
        if (!read || mine.size() != n) {
          check.difference = fmt::format("memory at {:#x} ({} bytes) is not readable in the "
                                           "replay",
                                           addr, n);
          return check;
        }
        std::string_view want(fs.core.data() + seg.file_offset + (addr - seg.vaddr), n);
        if (want != mine) {
          size_t i = 0;
          while (want[i] == mine[i]) {
            ++i;
          }
          check.difference = fmt::format("memory differs at {:#x}: recorded {} replayed {}",
                                           addr + i, hex(want.substr(i)),
                                           hex(std::string_view(mine).substr(i)));
          return check;
        }
      }
    }
  }
  check.verified = true;
  return check;
}

}  // namespace rwd
