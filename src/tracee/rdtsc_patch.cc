#include "tracee/rdtsc_patch.h"

#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include "tracee/code_relocation.h"
#include "tracee/proc_info.h"

namespace rwd {

namespace {

constexpr uint8_t kRax = 0;
constexpr uint8_t kRcx = 1;
constexpr uint8_t kRdx = 2;
constexpr std::string_view kRdtsc("\x0f\x31", 2);
constexpr std::string_view kRdtscp("\x0f\x01\xf9", 3);
}  // namespace

Result<RdtscPatch> RdtscPatch::build(std::string_view code, uint64_t code_start, uint64_t site,
                                     uint64_t page, uint64_t clock, uint64_t last, uint32_t aux) {
  auto why = [site](const Error& e) {
    return std::unexpected(e.context(fmt::format("the rdtsc at {:#x} stays trapped", site)));
  };
  std::string_view at = site >= code_start && site - code_start < code.size()
                            ? code.substr(site - code_start)
                            : std::string_view();
  bool rdtscp = at.starts_with(kRdtscp);
  if (!rdtscp && !at.starts_with(kRdtsc)) {
    return why(Error{"there is no rdtsc there"});
  }
  std::string_view insn = rdtscp ? kRdtscp : kRdtsc;
  uint64_t after = site + insn.size();
  auto displaced = decode_displaced(code.substr(after - code_start), after, kJmpLen - insn.size());
  if (!displaced) {
    return why(displaced.error());
  }
  size_t len = insn.size() + displaced->len;
  if (auto s = check_branches_into(code, code_start, site, len); !s) {
    return why(s.error());
  }

  RdtscPatch p;
  p.site_ = site;
  p.page_ = page;
  p.rdtscp_ = rdtscp;
  p.aux_ = aux;
  p.original_ = std::string(code.substr(site - code_start, len));
  SlotCode s(page, page + kHeader);
  auto next = s.slot(kNext);
  auto value = s.slot(kValue);
  // Entry: save what the stub changes, claim a slot or fall back.
  s.rip64(0x89, kRax, s.slot(kSavedRax));
  p.after_rax_save_ = s.here();
  s.rip64(0x89, kRdx, s.slot(kSavedRdx));
  p.after_rdx_save_ = s.here();
  s.save_flags(kFlags);
  p.after_flags_save_ = s.here();
  s.rip64(0x8b, kRax, next);
  s.rip64(0x3b, kRax, s.slot(kLimit));
  size_t to_fallback = s.branch({0x0f, 0x83});  // jae: ring full, or off
  // cmp qword [rip + mode], 0: the disp32 counts from the end of the imm8.
  s.code().emit({0x48, 0x83, 0x3d});
  s.code().emit32(static_cast<int64_t>(s.slot(kMode) - (s.here() + 5)));
  s.code().emit({0x00});
  size_t to_replay = s.branch({0x0f, 0x85});  // jne
  // Record: value = max(cycle_last, last + 1); last = value; ring[next] = value.
  s.rip64(0x8b, kRdx, s.slot(kClock));
  s.code().emit({0x48, 0x8b, 0x12});  // mov rdx, [rdx]
  s.rip64(0x89, kRdx, value);
  s.rip64(0x8b, kRdx, s.slot(kLast));
  s.code().emit({0x48, 0x8b, 0x02});        // mov rax, [rdx]
  s.code().emit({0x48, 0x83, 0xc0, 0x01});  // add rax, 1
  s.rip64(0x3b, kRax, value);
  s.code().emit({0x72, 0x07});              // jb: the kernel's clock is ahead
  s.rip64(0x89, kRax, value);               // (7 bytes)
  s.rip64(0x8b, kRax, value);
  s.code().emit({0x48, 0x89, 0x02});        // mov [rdx], rax
  s.rip64(0x8b, kRax, next);
  s.rip64(0x8d, kRdx, page + kRing);
  s.code().emit({0x48, 0x8d, 0x14, 0xc2});  // lea rdx, [rdx + rax*8]
  s.rip64(0x8b, kRax, value);
  s.code().emit({0x48, 0x89, 0x02});        // mov [rdx], rax
  size_t record_to_commit = s.branch({0xe9});
  // Replay: value = ring[next].
  s.bind(to_replay, s.here());
  s.rip64(0x8d, kRdx, page + kRing);
  s.code().emit({0x48, 0x8b, 0x14, 0xc2});  // mov rdx, [rdx + rax*8]
  s.rip64(0x89, kRdx, value);
  // Commit: one store. Before it the slot is not taken; after it, it is.
  s.bind(record_to_commit, s.here());
  s.rip64(0x8b, kRax, next);
  s.code().emit({0x48, 0x83, 0xc0, 0x01});  // add rax, 1
  p.commit_ = s.here();
  s.rip64(0x89, kRax, next);
  s.restore_flags(kFlags);
  s.load32(kRax, value);
  s.load32(kRdx, value + 4);
  if (rdtscp) {
    s.load32(kRcx, s.slot(kAux));
  }
  p.exit_ = s.here();
  if (auto st = emit_displaced(s.code(), *displaced, &p.copies_); !st) {
    return why(st.error());
  }
  size_t back = s.branch({0xe9});
  s.bind(back, site + len);
  // Fallback: the real rdtsc, trapped while rewind records or replays.
  p.fallback_ = s.here();
  s.bind(to_fallback, p.fallback_);
  s.restore_flags(kFlags);
  p.fallback_rdtsc_ = s.here();
  s.code().emit(insn);
  size_t fallback_back = s.branch({0xe9});
  s.bind(fallback_back, p.exit_);
  auto bytes = s.finish();
  if (!bytes) {
    return why(bytes.error());
  }
  if (bytes->size() > kHeader) {
    return why(Error{"its stub does not fit the page"});
  }
  std::string& image = p.image_;
  image = std::move(*bytes);
  image.resize(kHeader, '\xcc');  // stray jumps into the page trap
  std::string header(kHeaderSize, '\0');
  auto put = [&header](uint64_t off, uint64_t v) { std::memcpy(header.data() + off, &v, 8); };
  put(kLimit, kSlots);
  put(kClock, clock);
  put(kLast, last != 0 ? last : page + kHeader + kLastValue);
  put(kAux, aux);
  image += header;

  // The jmp, and int3 over the rest of the displaced bytes: only a missed branch into
  // the middle reaches them, and it should trap rather than run garbage.
  p.patched_.assign(len, '\xcc');
  p.patched_[0] = '\xe9';
  auto rel = static_cast<int32_t>(static_cast<int64_t>(page - (site + kJmpLen)));
  std::memcpy(p.patched_.data() + 1, &rel, 4);
  return p;
}

bool RdtscPatch::settle(user_regs_struct& regs, std::string_view header) const {
  uint64_t rip = regs.rip;
  auto restore_flags = [&] { regs.eflags = restored_flags(regs.eflags, stub_word(header, kFlags)); };
  bool before_commit = rip >= page_ && rip <= commit_;
  bool in_fallback = rip >= fallback_ && rip <= fallback_rdtsc_;
  if (before_commit || in_fallback) {
    if (rip >= after_rax_save_ || in_fallback) {
      regs.rax = stub_word(header, kSavedRax);
    }
    if (rip >= after_rdx_save_ || in_fallback) {
      regs.rdx = stub_word(header, kSavedRdx);
    }
    if (rip >= after_flags_save_ || in_fallback) {
      restore_flags();
    }
    regs.rip = site_;
    return true;
  }
  if (rip > commit_ && rip < exit_) {
    uint64_t v = stub_word(header, kValue);
    restore_flags();
    regs.rax = v & 0xffffffffu;
    regs.rdx = v >> 32;
    if (rdtscp_) {
      regs.rcx = aux_;
    }
    regs.rip = exit_;
    return true;
  }
  return false;
}

bool RdtscPatch::relocate(user_regs_struct& regs) const {
  if (regs.rip <= site_ || regs.rip >= site_ + original_.size()) {
    return false;
  }
  auto copy = std::find_if(copies_.begin(), copies_.end(),
                           [&](const auto& c) { return c.second == regs.rip; });
  if (copy == copies_.end()) {
    return false;
  }
  regs.rip = copy->first;
  return true;
}

uint64_t find_cycle_last_offset() {
  auto maps = read_maps(::getpid());
  if (!maps) {
    return 0;
  }
  auto vvar = std::find_if(maps->begin(), maps->end(),
                           [](const MapEntry& m) { return m.path == "[vvar]"; });
  if (vvar == maps->end() || !vvar->readable()) {
    return 0;
  }
  constexpr size_t kWords = 4096 / 8;
  const auto* words = reinterpret_cast<const volatile uint64_t*>(vvar->start);
  auto look = [&](std::array<uint64_t, kWords>& out) {
    for (size_t i = 0; i < kWords; ++i) {
      out[i] = words[i];
    }
    return __rdtsc();
  };
  // Far enough apart for the kernel's tick (HZ 100 or more) to have come in between.
  std::array<uint64_t, kWords> before{}, after{};
  uint64_t t0 = look(before);
  std::this_thread::sleep_for(std::chrono::milliseconds(25));
  uint64_t t1 = look(after);
  constexpr uint64_t kBehind = uint64_t{1} << 34;  // seconds of TSC, at most
  for (size_t i = 1; i < kWords; ++i) {
    bool near0 = before[i] != 0 && before[i] <= t0 && t0 - before[i] < kBehind;
    bool near1 = after[i] > before[i] && after[i] <= t1 && t1 - after[i] < kBehind;
    if (near0 && near1) {
      return i * 8;
    }
  }
  return 0;
}

}  // namespace rwd
