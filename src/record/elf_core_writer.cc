#include "record/elf_core_writer.h"

#include <elf.h>
#include <sys/procfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "common/files.h"

namespace rwd {

namespace {

static_assert(sizeof(user_regs_struct) == sizeof(elf_gregset_t),
              "NT_PRSTATUS holds user_regs_struct as pr_reg");
static_assert(sizeof(user_fpregs_struct) == 512, "NT_PRFPREG is the 512-byte FXSAVE area");

constexpr size_t kCopyBytes = 1u << 20;

uint64_t page_size() {
  static const uint64_t size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

template <class T>
std::string_view bytes_of(const T& v) {
  return {reinterpret_cast<const char*>(&v), sizeof(v)};
}

// Appends one note: Elf64_Nhdr, name (NUL-terminated, padded to 4), desc (padded to 4).
void add_note(std::string& out, std::string_view name, uint32_t type, std::string_view desc) {
  Elf64_Nhdr h{};
  h.n_namesz = static_cast<Elf64_Word>(name.size() + 1);
  h.n_descsz = static_cast<Elf64_Word>(desc.size());
  h.n_type = type;
  out.append(bytes_of(h));
  out.append(name);
  out.push_back('\0');
  out.resize(align_up(out.size(), 4), '\0');
  out.append(desc);
  out.resize(align_up(out.size(), 4), '\0');
}

std::string prstatus_note(const CoreProcess& proc, const CoreThread& t) {
  elf_prstatus ps;
  std::memset(&ps, 0, sizeof(ps));
  ps.pr_info.si_signo = t.cursig;
  if (t.siginfo) {
    ps.pr_info.si_code = t.siginfo->si_code;
    ps.pr_info.si_errno = t.siginfo->si_errno;
  }
  ps.pr_cursig = static_cast<short>(t.cursig);
  ps.pr_sigpend = t.sigpend;
  ps.pr_sighold = t.sighold;
  ps.pr_pid = t.tid;
  ps.pr_ppid = proc.ppid;
  ps.pr_pgrp = proc.pgrp;
  ps.pr_sid = proc.sid;
  std::memcpy(&ps.pr_reg, &t.regs, sizeof(t.regs));
  ps.pr_fpvalid = t.fpregs ? 1 : 0;
  return std::string(bytes_of(ps));
}

std::string prpsinfo_note(const CoreProcess& proc) {
  elf_prpsinfo ps;
  std::memset(&ps, 0, sizeof(ps));
  // The kernel stores the index of the state bit and its letter from "RSDTZW".
  static constexpr std::string_view kStates = "RSDTZW";
  size_t state = kStates.find(proc.state);
  if (state == std::string_view::npos) {
    state = proc.state == 't' ? 3 : 0;
  }
  ps.pr_state = static_cast<char>(state);
  ps.pr_sname = kStates[state];
  ps.pr_zomb = proc.state == 'Z' ? 1 : 0;
  ps.pr_nice = static_cast<char>(proc.nice);
  ps.pr_flag = proc.flags;
  ps.pr_uid = proc.uid;
  ps.pr_gid = proc.gid;
  ps.pr_pid = proc.pid;
  ps.pr_ppid = proc.ppid;
  ps.pr_pgrp = proc.pgrp;
  ps.pr_sid = proc.sid;
  std::memcpy(ps.pr_fname, proc.comm.data(), std::min(proc.comm.size(), sizeof(ps.pr_fname) - 1));
  std::memcpy(ps.pr_psargs, proc.args.data(),
              std::min(proc.args.size(), sizeof(ps.pr_psargs) - 1));
  return std::string(bytes_of(ps));
}

// NT_FILE: count, page size, count x {start, end, offset in pages}, then the names.
std::string file_note(std::span<const CoreMapping> maps) {
  std::string table;
  std::string names;
  uint64_t count = 0;
  for (const auto& m : maps) {
    if (!m.file_backed()) {
      continue;
    }
    ++count;
    uint64_t entry[3] = {m.start, m.end, m.file_offset / page_size()};
    table.append(reinterpret_cast<const char*>(entry), sizeof(entry));
    names.append(m.path);
    names.push_back('\0');
  }
  std::string out;
  uint64_t head[2] = {count, page_size()};
  out.append(reinterpret_cast<const char*>(head), sizeof(head));
  return out + table + names;
}

std::string build_notes(const CoreProcess& proc, std::span<const CoreThread> threads,
                        std::span<const CoreMapping> maps) {
  std::string notes;
  bool first = true;
  for (const auto& t : threads) {
    add_note(notes, "CORE", NT_PRSTATUS, prstatus_note(proc, t));
    if (first) {
      add_note(notes, "CORE", NT_PRPSINFO, prpsinfo_note(proc));
      if (t.siginfo) {
        add_note(notes, "CORE", NT_SIGINFO, bytes_of(*t.siginfo));
      }
      if (!proc.auxv.empty()) {
        add_note(notes, "CORE", NT_AUXV, proc.auxv);
      }
      add_note(notes, "CORE", NT_FILE, file_note(maps));
      first = false;
    }
    if (t.fpregs) {
      add_note(notes, "CORE", NT_PRFPREG, bytes_of(*t.fpregs));
    }
    if (!t.xstate.empty()) {
      add_note(notes, "LINUX", NT_X86_XSTATE, t.xstate);
    }
  }
  return notes;
}

// How many bytes of the mapping go into the file, decided before anything is written
// because the program headers come first.
uint64_t planned_file_size(const CoreMapping& m, const CoreMemoryReader& read) {
  if (!m.readable || m.dump == CoreDump::kNone || m.end <= m.start) {
    return 0;
  }
  std::array<uint8_t, 4> head{};
  if (read(m.start, head) != head.size()) {
    return 0;
  }
  if (m.dump == CoreDump::kElfHeader) {
    bool elf = std::memcmp(head.data(), ELFMAG, SELFMAG) == 0;
    return elf ? std::min(m.size(), page_size()) : 0;
  }
  return m.size();
}

uint32_t segment_flags(const CoreMapping& m) {
  return (m.readable ? PF_R : 0) | (m.writable ? PF_W : 0) | (m.executable ? PF_X : 0);
}

// Copies [addr, addr+size) from the target to fd; unreadable pages become zeros.
Status copy_memory(int fd, uint64_t addr, uint64_t size, const CoreMemoryReader& read,
                   std::vector<uint8_t>& buf) {
  while (size > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(size, buf.size()));
    std::span<uint8_t> out(buf.data(), want);
    size_t filled = 0;
    while (filled < want) {
      size_t n = read(addr + filled, out.subspan(filled));
      if (n == 0) {
        // Skip to the next page boundary with zeros: reads fail a page at a time.
        uint64_t next = align_up(addr + filled + 1, page_size());
        size_t zeros = static_cast<size_t>(std::min<uint64_t>(next - (addr + filled), want - filled));
        std::memset(out.data() + filled, 0, zeros);
        n = zeros;
      }
      filled += n;
    }
    if (auto s = write_all(fd, std::span<const uint8_t>(out)); !s) {
      return s;
    }
    addr += want;
    size -= want;
  }
  return ok();
}

}  // namespace

Status write_elf_core(int fd, const CoreProcess& proc, std::span<const CoreThread> threads,
                      std::span<const CoreMapping> maps, const CoreMemoryReader& read) {
  if (threads.empty()) {
    return fail("cannot write a core file for pid {}: no threads were collected", proc.pid);
  }
  std::string notes = build_notes(proc, threads, maps);

  const uint64_t phnum = 1 + maps.size();
  const bool extended = phnum >= PN_XNUM;  // count moves to section header 0's sh_info
  const uint64_t phoff = sizeof(Elf64_Ehdr);
  const uint64_t shoff = extended ? phoff + phnum * sizeof(Elf64_Phdr) : 0;
  const uint64_t notes_off =
      phoff + phnum * sizeof(Elf64_Phdr) + (extended ? sizeof(Elf64_Shdr) : 0);
  const uint64_t data_off = align_up(notes_off + notes.size(), page_size());

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = phoff;
  eh.e_shoff = shoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = extended ? PN_XNUM : static_cast<Elf64_Half>(phnum);
  eh.e_shentsize = extended ? sizeof(Elf64_Shdr) : 0;
  eh.e_shnum = extended ? 1 : 0;

  std::string head(bytes_of(eh));
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = notes_off;
  note.p_filesz = notes.size();
  note.p_align = 4;
  head.append(bytes_of(note));

  std::vector<uint64_t> file_sizes;
  file_sizes.reserve(maps.size());
  uint64_t off = data_off;
  for (const auto& m : maps) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = segment_flags(m);
    ph.p_offset = off;
    ph.p_vaddr = m.start;
    ph.p_memsz = m.size();
    ph.p_filesz = planned_file_size(m, read);
    ph.p_align = page_size();
    file_sizes.push_back(ph.p_filesz);
    off += ph.p_filesz;
    head.append(bytes_of(ph));
  }
  if (extended) {
    Elf64_Shdr sh{};
    sh.sh_info = static_cast<Elf64_Word>(phnum);
    head.append(bytes_of(sh));
  }
  head.append(notes);
  head.resize(data_off, '\0');
  if (auto s = write_all(fd, head); !s) {
    return std::unexpected(s.error().context("cannot write core file"));
  }

  std::vector<uint8_t> buf(kCopyBytes);
  for (size_t i = 0; i < maps.size(); ++i) {
    if (auto s = copy_memory(fd, maps[i].start, file_sizes[i], read, buf); !s) {
      return std::unexpected(s.error().context("cannot write core file"));
    }
  }
  return ok();
}

}  // namespace rwd
