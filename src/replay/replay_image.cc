#include "replay/replay_image.h"

#include <elf.h>
#include <sys/procfs.h>

#include <cstring>

#include "tracee/thread_regs.h"

namespace rwd {

namespace {

Result<std::string> from_hex(const std::string& hex) {
  if (hex.size() % 2 != 0) {
    return fail("odd-length hex string in the snapshot");
  }
  std::string out(hex.size() / 2, '\0');
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return fail("bad hex digit in the snapshot");
    }
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

uint64_t u64_of(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>()
         : it != j.end() && it->is_number_integer() ? static_cast<uint64_t>(it->get<int64_t>())
                                                    : 0;
}

}  // namespace

Result<FinalState> parse_final_core(std::string core) {
  FinalState fs;
  Elf64_Ehdr eh{};
  if (core.size() < sizeof eh) {
    return fail("the final state is not an ELF core ({} bytes)", core.size());
  }
  std::memcpy(&eh, core.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_type != ET_CORE ||
      eh.e_phentsize != sizeof(Elf64_Phdr) ||
      eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > core.size()) {
    return fail("the final state is not a valid x86-64 ELF core");
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    std::memcpy(&ph, core.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_offset > core.size() || ph.p_filesz > core.size() - ph.p_offset) {
      return fail("the final state's segment {} lies outside the core", i);
    }
    if (ph.p_type == PT_LOAD) {
      fs.segments.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz, (ph.p_flags & PF_W) != 0});
      continue;
    }
    if (ph.p_type != PT_NOTE) {
      continue;
    }
    uint64_t pos = ph.p_offset, end = ph.p_offset + ph.p_filesz;
    while (pos + sizeof(Elf64_Nhdr) <= end) {
      Elf64_Nhdr nh{};
      std::memcpy(&nh, core.data() + pos, sizeof nh);
      uint64_t name_at = pos + sizeof nh;
      uint64_t desc_at = name_at + ((nh.n_namesz + 3) & ~3u);
      uint64_t next = desc_at + ((nh.n_descsz + 3) & ~3u);
      if (next > end) {
        break;
      }
      if (nh.n_type == NT_PRSTATUS && nh.n_descsz >= sizeof(elf_prstatus)) {
        elf_prstatus ps{};
        std::memcpy(&ps, core.data() + desc_at, sizeof ps);
        FinalThread t;
        t.tid = ps.pr_pid;
        std::memcpy(&t.regs, &ps.pr_reg, sizeof t.regs);
        fs.threads.push_back(t);
      }
      pos = next;
    }
  }
  fs.core = std::move(core);
  return fs;
}

Result<ReplayImage> ReplayImage::load(const RecordingReader& reader, const std::string& name) {
  const BlobInfo* snap_blob = reader.find_blob("snapshot", "name", name);
  if ((snap_blob == nullptr || !snap_blob->complete) && name == "initial") {
    return fail("the recording has no initial snapshot (it was cut short before the "
                "recording started, or was damaged)");
  }
  if (snap_blob == nullptr || !snap_blob->complete) {
    return fail("the recording has no snapshot {} of the program started by exec (recorded "
                "by a rewind without exec support, cut short, or its saving failed: see the "
                "recording's warnings)",
                name);
  }
  auto text = reader.read_blob(*snap_blob);
  if (!text) {
    return std::unexpected(text.error());
  }
  auto snap = nlohmann::json::parse(*text, nullptr, false);
  if (snap.is_discarded() || !snap.is_object()) {
    return fail("the snapshot {} is not valid JSON", name);
  }
  ReplayImage img;
  img.snapshot = name;
  img.pid = static_cast<pid_t>(u64_of(snap, "pid"));
  if (auto a = snap.find("auxv"); a != snap.end() && a->is_string()) {
    if (auto bytes = from_hex(a->get<std::string>())) {
      img.auxv = std::move(*bytes);
    }
  }
  for (const auto& m : snap.value("maps", nlohmann::json::array())) {
    ReplayRegion r;
    r.start = u64_of(m, "start");
    r.end = u64_of(m, "end");
    r.perms = m.value("perms", std::string("---p"));
    r.offset = u64_of(m, "offset");
    r.path = m.value("path", std::string());
    r.saved = m.value("saved", false);
    if (r.end <= r.start || (r.start & 4095) || (r.end & 4095)) {
      return fail("the snapshot's region {:#x}-{:#x} is not page-aligned", r.start, r.end);
    }
    img.regions.push_back(std::move(r));
  }
  for (const auto& t : snap.value("threads", nlohmann::json::array())) {
    ReplayThreadState ts;
    ts.tid = static_cast<pid_t>(u64_of(t, "tid"));
    auto regs = regs_from_json(t.value("regs", nlohmann::json()));
    if (!regs) {
      return std::unexpected(regs.error());
    }
    ts.regs = *regs;
    auto fp = from_hex(t.value("fpregs", std::string()));
    auto xs = from_hex(t.value("xstate", std::string()));
    if (!fp || !xs) {
      return fail("the snapshot's FPU state of thread {} is damaged", ts.tid);
    }
    ts.fpregs = std::move(*fp);
    ts.xstate = std::move(*xs);
    ts.sigmask = std::stoull(t.value("sigmask", std::string("0")), nullptr, 16);
    if (auto a = t.find("altstack"); a != t.end() && a->is_object()) {
      stack_t ss{};
      ss.ss_sp = reinterpret_cast<void*>(u64_of(*a, "sp"));
      ss.ss_flags = static_cast<int>(u64_of(*a, "flags"));
      ss.ss_size = u64_of(*a, "size");
      ts.altstack = ss;
    }
    if (ts.tid == img.pid) {
      img.threads.insert(img.threads.begin(), std::move(ts));
    } else {
      img.threads.push_back(std::move(ts));
    }
  }
  if (img.threads.empty() || img.threads.front().tid != img.pid) {
    return fail("the snapshot does not hold the registers of the main thread {}", img.pid);
  }
  for (const auto& a : snap.value("signal_actions", nlohmann::json::array())) {
    img.signal_actions.push_back({a.value("signal", 0), u64_of(a, "handler"), u64_of(a, "flags"),
                                  u64_of(a, "restorer"), u64_of(a, "mask")});
  }
  img.vdso_patched = snap.value("vdso_patched", false);
  img.cpuid_trapped = snap.value("cpuid_trapped", false);
  img.vdso_trapped_stub = snap.value("vdso_stub", "syscall") == "trapped";
  if (auto g = snap.find("orphan_guard"); g != snap.end() && g->is_object()) {
    img.orphan_guard = u64_of(*g, "base");
    img.orphan_guard_size = u64_of(*g, "size");
    img.orphan_guard_layout = OrphanGuard::kOriginalLayout;
    if (auto l = g->find("layout"); l != g->end() && l->is_object()) {
      img.orphan_guard_layout = {u64_of(*l, "segv"), u64_of(*l, "trap"), u64_of(*l, "restorer"),
                                 u64_of(*l, "syscall"), u64_of(*l, "data")};
    }
  }
  if (const BlobInfo* core = reader.find_blob("core", "name", "final"); core && core->complete) {
    auto bytes = reader.read_blob(*core);
    if (!bytes) {
      return std::unexpected(bytes.error());
    }
    auto fs = parse_final_core(std::move(*bytes));
    if (!fs) {
      return std::unexpected(fs.error());
    }
    img.final_state = std::move(*fs);
  }
  return img;
}

}  // namespace rwd
