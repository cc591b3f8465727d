#include "tracee/clock_stubs.h"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "tracee/code_relocation.h"

namespace rwd {

namespace {

constexpr uint8_t kRax = 0;
constexpr uint8_t kRcx = 1;
constexpr uint8_t kRdx = 2;
constexpr uint64_t kPlainLen = 8;      // mov $NR, %eax; syscall; ret
constexpr uint64_t kPlainSyscall = 5;  // where its syscall is
constexpr uint32_t kKeptClocks = 0xf3; // ids 0 1 4 5 6 7: not the CPU-time clocks
constexpr uint32_t kCoarseClocks = (1u << CLOCK_REALTIME_COARSE) | (1u << CLOCK_MONOTONIC_COARSE);

void emit_u32(Code& c, uint8_t opcode, uint32_t imm) {
  c.emit({opcode});
  c.emit32(imm);
}

}  // namespace

Result<ClockStubs> ClockStubs::build(const std::vector<CodePatch>& patches, uint64_t page) {
  ClockStubs out;
  out.page_ = page;
  SlotCode s(page, page + kHeader);
  auto slot = [&s](uint64_t off) { return s.slot(off); };
  for (const auto& p : patches) {
    if (p.sysno != SYS_clock_gettime && p.sysno != SYS_gettimeofday && p.sysno != SYS_time) {
      continue;
    }
    if (p.trapped || p.replacement.size() != kPlainLen || p.syscall_at != p.addr + kPlainSyscall) {
      return fail("the vDSO's {} is not a plain syscall stub", p.symbol);
    }
    if (std::ranges::any_of(out.stubs_, [&p](const Stub& st) { return st.site == p.addr; })) {
      continue;  // an alias of one already done
    }
    Stub st;
    st.site = p.addr;
    st.sysno = p.sysno;
    st.entry = s.here();
    s.rip64(0x89, kRax, slot(kSavedRax));
    st.after_rax = s.here();
    s.rip64(0x89, kRcx, slot(kSavedRcx));
    st.after_rcx = s.here();
    s.rip64(0x89, kRdx, slot(kSavedRdx));
    st.after_rdx = s.here();
    s.save_flags(kFlags);
    st.after_flags = s.here();
    // The clock, in ecx, or the way out.
    std::vector<size_t> to_fallback;
    if (p.sysno == SYS_clock_gettime) {
      s.code().emit({0x83, 0xff, kClocks - 1});  // cmp edi, 7
      to_fallback.push_back(s.branch({0x0f, 0x87}));  // ja
      s.code().emit({0x89, 0xf9});                    // mov ecx, edi
      emit_u32(s.code(), 0xb8, 1);                    // mov eax, 1
      s.code().emit({0xd3, 0xe0});                    // shl eax, cl
      emit_u32(s.code(), 0xa9, kKeptClocks);          // test eax, imm32
      to_fallback.push_back(s.branch({0x0f, 0x84}));  // je
    } else {
      if (p.sysno == SYS_gettimeofday) {
        s.code().emit({0x48, 0x85, 0xf6});              // test rsi, rsi: a timezone
        to_fallback.push_back(s.branch({0x0f, 0x85}));  // jne
      }
      // gettimeofday reads CLOCK_REALTIME; time, as the vDSO's, the coarse one.
      emit_u32(s.code(), 0xb9, p.sysno == SYS_time ? CLOCK_REALTIME_COARSE : CLOCK_REALTIME);
    }
    // Claim a slot: rax = next.
    s.rip64(0x8b, kRax, slot(kNext));
    s.rip64(0x3b, kRax, slot(kLimit));
    to_fallback.push_back(s.branch({0x0f, 0x83}));  // jae: ring full, or off
    s.code().emit({0x48, 0x83, 0x3d});             // cmp qword [rip + mode], 0
    s.code().emit32(static_cast<int64_t>(slot(kMode) - (s.here() + 5)));
    s.code().emit({0x00});
    size_t to_replay = s.branch({0x0f, 0x85});  // jne
    // Record: value = max(now[c], last[c] + step); last[c] = value; ring[next] = value.
    // The step is 0 for the coarse clocks, whose kernel values do not move between
    // ticks either (a later syscall must not find them behind the stub's).
    s.rip64(0x8d, kRdx, slot(kLast));
    s.code().emit({0x48, 0x8b, 0x04, 0xca});  // mov rax, [rdx + rcx*8]
    emit_u32(s.code(), 0xba, kCoarseClocks);  // mov edx, coarse clocks
    s.code().emit({0xd3, 0xea});              // shr edx, cl
    s.code().emit({0x83, 0xe2, 0x01});        // and edx, 1
    s.code().emit({0x83, 0xf2, 0x01});        // xor edx, 1
    s.code().emit({0x48, 0x01, 0xd0});        // add rax, rdx
    // now[c], read between two equal, even sequence numbers (the recorder writes the
    // table while the program runs).
    s.rip64(0x8b, kRdx, slot(kSeq));
    s.rip64(0x89, kRdx, slot(kSeen));
    s.code().emit({0xf6, 0xc2, 0x01});        // test dl, 1: being written
    size_t busy = s.branch({0x0f, 0x85});     // jne
    s.rip64(0x8d, kRdx, slot(kNow));
    s.code().emit({0x48, 0x8b, 0x14, 0xca});  // mov rdx, [rdx + rcx*8]
    s.code().emit({0x48, 0x39, 0xd0});        // cmp rax, rdx
    size_t ahead = s.branch({0x0f, 0x83});    // jae: last + step is ahead
    s.rip64(0x89, kRdx, slot(kValue));
    s.rip64(0x8b, kRdx, slot(kSeq));
    s.rip64(0x3b, kRdx, slot(kSeen));
    size_t changed = s.branch({0x0f, 0x85});  // jne
    s.rip64(0x8b, kRax, slot(kValue));
    s.bind(busy, s.here());
    s.bind(ahead, s.here());
    s.bind(changed, s.here());
    s.rip64(0x8d, kRdx, slot(kLast));
    s.code().emit({0x48, 0x89, 0x04, 0xca});  // mov [rdx + rcx*8], rax
    s.rip64(0x89, kRax, slot(kValue));
    s.rip64(0x8b, kRax, slot(kNext));
    s.rip64(0x8d, kRdx, page + kRing);
    s.rip64(0x8b, kRcx, slot(kValue));
    s.code().emit({0x48, 0x89, 0x0c, 0xc2});  // mov [rdx + rax*8], rcx
    size_t record_to_out = s.branch({0xe9});
    // Replay: value = ring[next].
    s.bind(to_replay, s.here());
    s.rip64(0x8d, kRdx, page + kRing);
    s.code().emit({0x48, 0x8b, 0x04, 0xc2});  // mov rax, [rdx + rax*8]
    s.rip64(0x89, kRax, slot(kValue));
    // The call's outputs and result from the value, kept in the header.
    s.bind(record_to_out, s.here());
    s.rip64(0x8b, kRax, slot(kValue));
    s.code().emit({0x31, 0xd2});              // xor edx, edx
    if (p.sysno == SYS_gettimeofday) {
      emit_u32(s.code(), 0xb9, 1000);         // mov ecx, 1000
      s.code().emit({0x48, 0xf7, 0xf1});      // div rcx: microseconds
      s.code().emit({0x31, 0xd2});            // xor edx, edx
      emit_u32(s.code(), 0xb9, 1000000);      // mov ecx, 1000000
    } else {
      emit_u32(s.code(), 0xb9, 1000000000);   // mov ecx, 1000000000
    }
    s.code().emit({0x48, 0xf7, 0xf1});        // div rcx: rax seconds, rdx the rest
    s.rip64(0x89, kRax, slot(kSeconds));
    s.rip64(0x89, kRdx, slot(kRest));
    if (p.sysno != SYS_time) {
      s.code().emit({0x31, 0xc0});            // xor eax, eax
    }
    s.rip64(0x89, kRax, slot(kResult));
    // Commit: one store. The caller's memory is written only after it, so that a thread
    // sent back to the function's entry finds it as it was.
    s.rip64(0x8b, kRax, slot(kNext));
    s.code().emit({0x48, 0x8d, 0x40, 0x01});  // lea rax, [rax + 1]
    st.commit = s.here();
    s.rip64(0x89, kRax, slot(kNext));
    if (p.sysno == SYS_clock_gettime) {
      s.rip64(0x8b, kRax, slot(kSeconds));
      s.code().emit({0x48, 0x89, 0x06});        // mov [rsi], rax
      s.rip64(0x8b, kRax, slot(kRest));
      s.code().emit({0x48, 0x89, 0x46, 0x08});  // mov [rsi + 8], rax
    } else {
      s.code().emit({0x48, 0x85, 0xff});          // test rdi, rdi
      size_t no_output = s.branch({0x0f, 0x84});  // je
      s.rip64(0x8b, kRax, slot(kSeconds));
      s.code().emit({0x48, 0x89, 0x07});          // mov [rdi], rax
      if (p.sysno == SYS_gettimeofday) {
        s.rip64(0x8b, kRax, slot(kRest));
        s.code().emit({0x48, 0x89, 0x47, 0x08});  // mov [rdi + 8], rax
      }
      s.bind(no_output, s.here());
    }
    s.rip64(0x8b, kRcx, slot(kSavedRcx));
    s.rip64(0x8b, kRdx, slot(kSavedRdx));
    s.restore_flags(kFlags);
    s.rip64(0x8b, kRax, slot(kResult));
    s.code().emit({0xc3});  // ret
    // The way out: the plain stub's syscall, with the caller's registers.
    st.fallback = s.here();
    for (size_t at : to_fallback) {
      s.bind(at, st.fallback);
    }
    s.rip64(0x8b, kRcx, slot(kSavedRcx));
    s.rip64(0x8b, kRdx, slot(kSavedRdx));
    s.restore_flags(kFlags);
    emit_u32(s.code(), 0xb8, static_cast<uint32_t>(p.sysno));  // mov eax, NR
    s.bind(s.branch({0xe9}), p.syscall_at);
    st.end = s.here();

    Site site;
    site.addr = p.addr;
    site.plain = p.replacement.substr(0, kJmpLen);
    site.bytes.assign(1, '\xe9');
    auto rel = static_cast<int64_t>(st.entry) - static_cast<int64_t>(p.addr + kJmpLen);
    if (!fits_rel32(rel)) {
      return fail("the clock stubs' page at {:#x} is out of reach of the vDSO's {}", page,
                  p.symbol);
    }
    auto rel32 = static_cast<int32_t>(rel);
    site.bytes.append(reinterpret_cast<const char*>(&rel32), 4);
    out.sites_.push_back(std::move(site));
    out.stubs_.push_back(st);
  }
  if (out.stubs_.empty()) {
    return fail("the vDSO has none of clock_gettime, gettimeofday and time");
  }
  auto bytes = s.finish();
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  if (bytes->size() > kHeader) {
    return fail("the clock stubs do not fit their page");
  }
  out.image_ = std::move(*bytes);
  out.image_.resize(kHeader, '\xcc');  // stray jumps into the page trap
  std::string header(kHeaderSize, '\0');
  uint64_t limit = kSlots;
  std::memcpy(header.data() + kLimit, &limit, 8);
  out.image_ += header;
  return out;
}

std::array<uint64_t, ClockStubs::kClocks> ClockStubs::now() {
  std::array<uint64_t, kClocks> out{};
  for (int id = 0; id < kClocks; ++id) {
    timespec ts{};
    if (((kKeptClocks >> id) & 1) != 0 && ::clock_gettime(id, &ts) == 0) {
      out[id] = static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
    }
  }
  return out;
}

void ClockTableFeed::start(pid_t pid, uint64_t header) {
  stop();
  {
    std::lock_guard lock(mutex_);
    pid_ = pid;
    header_ = header;
    seq_ = 0;
    write_running();
  }
  ticker_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (header_ != 0) {
      wake_.wait_for(lock, std::chrono::milliseconds(1));
      if (header_ != 0 && std::chrono::steady_clock::now() - last_ >= std::chrono::milliseconds(1)) {
        write_running();
      }
    }
  });
}

void ClockTableFeed::write_stopped() {
  std::lock_guard lock(mutex_);
  if (header_ == 0) {
    return;
  }
  struct {
    uint64_t seq;
    std::array<uint64_t, ClockStubs::kClocks> now;
  } table{seq_ + 2, ClockStubs::now()};
  static_assert(ClockStubs::kNow == ClockStubs::kSeq + 8);
  iovec local{&table, sizeof table};
  iovec remote{reinterpret_cast<void*>(header_ + ClockStubs::kSeq), sizeof table};
  (void)::process_vm_writev(pid_, &local, 1, &remote, 1, 0);
  seq_ += 2;
  last_ = std::chrono::steady_clock::now();
}

void ClockTableFeed::stop() {
  {
    std::lock_guard lock(mutex_);
    header_ = 0;
  }
  wake_.notify_all();
  if (ticker_.joinable()) {
    ticker_.join();
  }
}

void ClockTableFeed::write_running() {
  auto put = [this](uint64_t off, const void* data, size_t len) {
    iovec local{const_cast<void*>(data), len};
    iovec remote{reinterpret_cast<void*>(header_ + off), len};
    return ::process_vm_writev(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
  };
  auto now = ClockStubs::now();
  uint64_t odd = seq_ + 1, even = seq_ + 2;
  // Separate writes, in this order: a stub that reads the sequence, then the table, then
  // the sequence again sees them change in this order.
  if (put(ClockStubs::kSeq, &odd, 8)) {
    (void)put(ClockStubs::kNow, now.data(), sizeof now);
    (void)put(ClockStubs::kSeq, &even, 8);
  }
  seq_ = even;
  last_ = std::chrono::steady_clock::now();
}

bool ClockStubs::settle(user_regs_struct& regs, std::string_view header, uint64_t return_to,
                        std::vector<MemoryBytes>* writes) const {
  uint64_t rip = regs.rip;
  auto restore = [&](bool rax, bool rcx, bool rdx, bool flags) {
    if (rax) {
      regs.rax = stub_word(header, kSavedRax);
    }
    if (rcx) {
      regs.rcx = stub_word(header, kSavedRcx);
    }
    if (rdx) {
      regs.rdx = stub_word(header, kSavedRdx);
    }
    if (flags) {
      regs.eflags = restored_flags(regs.eflags, stub_word(header, kFlags));
    }
  };
  for (const Stub& st : stubs_) {
    bool before_commit = rip >= st.entry && rip <= st.commit;
    bool in_fallback = rip >= st.fallback && rip < st.end;
    if (before_commit || in_fallback) {
      // The way out lies past every save.
      restore(rip >= st.after_rax, rip >= st.after_rcx, rip >= st.after_rdx,
              rip >= st.after_flags);
      regs.rip = st.site;
      return true;
    }
    if (rip > st.commit && rip < st.fallback) {
      // What the rest of the stub does: the caller's memory, its registers, the return.
      uint64_t seconds = stub_word(header, kSeconds);
      uint64_t rest = stub_word(header, kRest);
      std::string both(16, '\0');
      std::memcpy(both.data(), &seconds, 8);
      std::memcpy(both.data() + 8, &rest, 8);
      if (st.sysno == SYS_clock_gettime) {
        writes->push_back({regs.rsi, both});
      } else if (regs.rdi != 0) {
        writes->push_back({regs.rdi, st.sysno == SYS_gettimeofday ? both : both.substr(0, 8)});
      }
      restore(false, true, true, true);
      regs.rax = stub_word(header, kResult);
      regs.rip = return_to;
      regs.rsp += 8;
      return true;
    }
  }
  return false;
}

}  // namespace rwd
